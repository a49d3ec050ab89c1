package text

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// client is one text-protocol connection and its broker session.
type client struct {
	conn *sdk.Conn

	out *output // lines come from the reader, acks and subscriptions

	// Answers go out in command order, though a PUB's answer comes later,
	// with its acknowledgement: a client may send many commands without
	// waiting. Commands are numbered; answers[head] is command base.
	omu      sync.Mutex
	answered sync.Cond // broadcast when every command has its answer
	answers  []answer
	head     int
	base     uint64
	next     uint64

	subs      map[string]*sdk.Subscription // by topic; only the reader touches it
	lastTopic string                       // the last PUB's topic, reused while it repeats
}

type answer struct {
	line string
	done bool
}

func serveClient(ctx context.Context, h *plugin.Host, c net.Conn, maxLine int) {
	cl := &client{out: newOutput(c), subs: map[string]*sdk.Subscription{}}
	cl.answered.L = &cl.omu
	defer cl.out.close("")
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	opts := []sdk.Option{
		sdk.Name("text " + c.RemoteAddr().String()),
		// When the broker ends the session (shutdown, slow consumer), say
		// so and hang up.
		sdk.DisconnectHandler(func(_ *sdk.Conn, err error) {
			last := ""
			if err != nil {
				last = "-ERR session closed by the broker: " + err.Error()
			}
			cl.out.hangUp(last)
		}),
		// The broker refused a SEND: there is no answer to carry it, so
		// it is reported on a line of its own. (A refused subscription is
		// the answer to its SUB.)
		sdk.ErrorHandler(func(_ *sdk.Conn, s *sdk.Subscription, err error) {
			if s == nil {
				cl.asyncError(err, false)
			}
		}),
	}
	if tok := h.Setting("token", ""); tok != "" {
		opts = append(opts, sdk.Token(tok))
	}
	conn, err := h.Connect(ctx, c.RemoteAddr().String(), opts...)
	if err != nil {
		cl.out.close("-ERR " + err.Error())
		return
	}
	defer conn.Close()
	cl.conn = conn

	r := bufio.NewReaderSize(c, maxLine)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			cl.out.close(fmt.Sprintf("-ERR line longer than %d bytes", maxLine))
			return
		}
		if err != nil {
			// The client left, or half-closed after its last command:
			// answer what it sent before hanging up.
			cl.finish()
			return
		}
		// When the broker ends the session, the DisconnectHandler hangs
		// up, which ends this loop.
		// A client that sends commands without reading their answers
		// waits here, not in the SDK's handler goroutine where answers
		// are queued.
		cl.out.waitRoom()
		line = trimEOL(line)
		cmd, rest, _ := bytes.Cut(line, []byte(" "))
		// The length first: EqualFold does not look at it before
		// comparing, and these two run for every message.
		if len(cmd) == 3 && bytes.EqualFold(cmd, []byte("PUB")) {
			cl.publish(rest)
			continue
		}
		if len(cmd) == 4 && bytes.EqualFold(cmd, []byte("SEND")) {
			cl.send(rest)
			continue
		}
		cl.handle(ctx, string(line))
	}
}

// finish waits, for at most 10 seconds, until every command read has been
// answered: the broker's acknowledgements are in (a flush) and their
// answers are queued for the client.
func (cl *client) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl.conn.Flush(ctx)
	stop := context.AfterFunc(ctx, func() {
		cl.omu.Lock()
		cl.answered.Broadcast()
		cl.omu.Unlock()
	})
	defer stop()
	cl.omu.Lock()
	for cl.head < len(cl.answers) && ctx.Err() == nil {
		cl.answered.Wait()
	}
	cl.omu.Unlock()
}

// publish handles PUB, the command of the hot path, without copying the
// line: the payload is encoded before the next line is read.
func (cl *client) publish(rest []byte) {
	a := cl.expectAnswer()
	topic, payload := cl.cutTopic(rest)
	// The broker's verdict (a bad topic, a payload too large) is the
	// answer to this line; it arrives with the acknowledgement.
	err := cl.conn.PublishAckAsync(&sdk.Msg{Topic: topic, Data: payload}, func(err error) {
		cl.answer(a, result(err))
	})
	if err != nil {
		cl.answer(a, result(err))
	}
}

// send handles SEND: a publish without an answer. The broker's refusal, if
// any, comes on an ERROR line; a PING answered after it has reported every
// refusal of the SENDs before it.
func (cl *client) send(rest []byte) {
	topic, payload := cl.cutTopic(rest)
	if err := cl.conn.Publish(topic, payload); err != nil {
		cl.asyncError(err, true)
	}
}

// cutTopic splits "<topic> <payload>"; the topic string is reused while
// it repeats, so a run of publishes to one topic allocates nothing.
func (cl *client) cutTopic(rest []byte) (string, []byte) {
	topic, payload, _ := bytes.Cut(rest, []byte(" "))
	if string(topic) != cl.lastTopic {
		cl.lastTopic = string(topic)
	}
	return cl.lastTopic, payload
}

// asyncError writes an ERROR line: a failure that answers no command. The
// command reader may wait for room in the output; the SDK's handler
// goroutine may not.
func (cl *client) asyncError(err error, wait bool) {
	cl.out.add(wait, func(b []byte) []byte {
		b = append(b, "ERROR "...)
		b = appendOneLine(b, []byte(err.Error()))
		return append(b, "\r\n"...)
	})
}

// handle runs every command but PUB and SEND.
func (cl *client) handle(ctx context.Context, line string) {
	a := cl.expectAnswer()
	cmd, rest, _ := strings.Cut(line, " ")
	switch strings.ToUpper(cmd) {
	case "SUB":
		topic, queue, _ := strings.Cut(rest, " ")
		cl.answer(a, result(cl.subscribe(topic, queue)))
	case "UNSUB":
		s, ok := cl.subs[rest]
		if !ok {
			cl.answer(a, "-ERR not subscribed to "+rest)
			return
		}
		delete(cl.subs, rest)
		cl.answer(a, result(s.Unsubscribe()))
	case "REQ":
		topic, payload, _ := strings.Cut(rest, " ")
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		m, err := cl.conn.Request(rctx, topic, []byte(payload))
		switch {
		case errors.Is(err, sdk.ErrNoResponders):
			cl.answer(a, "-ERR no responders")
		case errors.Is(err, context.DeadlineExceeded):
			cl.answer(a, "-ERR request timed out")
		case err != nil:
			cl.answer(a, "-ERR "+err.Error())
		default:
			cl.answer(a, "REPLY "+oneLine(m.Data))
		}
	case "PING":
		// PONG once the broker has everything sent before, and every
		// refusal of it is reported; the reader goes on meanwhile.
		err := cl.conn.FlushAsync(func(err error) {
			if err != nil {
				cl.answer(a, result(err))
				return
			}
			cl.answer(a, "PONG")
		})
		if err != nil {
			cl.answer(a, result(err))
		}
	case "":
		cl.answer(a, "")
	default:
		cl.answer(a, "-ERR unknown command "+cmd)
	}
}

// expectAnswer reserves the place of a command's answer and returns the
// command's number.
func (cl *client) expectAnswer() uint64 {
	cl.omu.Lock()
	defer cl.omu.Unlock()
	if cl.head > 0 && cl.head >= len(cl.answers)/2 {
		// Reuse the front: move the waiting part down.
		k := copy(cl.answers, cl.answers[cl.head:])
		clear(cl.answers[k:])
		cl.answers, cl.head = cl.answers[:k], 0
	}
	cl.answers = append(cl.answers, answer{})
	cl.next++
	return cl.next - 1
}

// answer fills in the answer to command a; the answers ready at the head
// of the queue go out.
func (cl *client) answer(a uint64, line string) {
	cl.omu.Lock()
	defer cl.omu.Unlock()
	cl.answers[cl.head+int(a-cl.base)] = answer{line: line, done: true}
	ready := cl.answers[cl.head:]
	n := 0
	for n < len(ready) && ready[n].done {
		n++
	}
	if n == 0 {
		return
	}
	cl.out.add(false, func(b []byte) []byte {
		for _, x := range ready[:n] {
			if x.line != "" {
				b = append(b, x.line...)
				b = append(b, "\r\n"...)
			}
		}
		return b
	})
	clear(ready[:n])
	cl.head += n
	cl.base += uint64(n)
	if cl.head == len(cl.answers) {
		cl.answered.Broadcast()
		cl.answers, cl.head = cl.answers[:0], 0
		if cap(cl.answers) > 4096 {
			cl.answers = nil // let a burst's queue go
		}
	}
}

func (cl *client) subscribe(topic, queue string) error {
	if topic == "" {
		return errors.New("usage: SUB <topic> [queue]")
	}
	if _, dup := cl.subs[topic]; dup {
		return errors.New("already subscribed to " + topic)
	}
	deliver := func(m *sdk.Msg) {
		cl.out.add(true, func(b []byte) []byte {
			if m.Reply != "" {
				b = append(b, "REQUEST "...)
				b = append(b, m.Topic...)
				b = append(b, ' ')
				b = append(b, m.Reply...)
			} else {
				b = append(b, "MSG "...)
				b = append(b, m.Topic...)
			}
			b = append(b, ' ')
			b = appendOneLine(b, m.Data)
			return append(b, "\r\n"...)
		})
	}
	var s *sdk.Subscription
	var err error
	if queue != "" {
		s, err = cl.conn.QueueSubscribe(topic, queue, deliver)
	} else {
		s, err = cl.conn.Subscribe(topic, deliver)
	}
	if err != nil {
		return err
	}
	// The broker validates the filter; a round trip makes its verdict the
	// answer to this line.
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.conn.Flush(fctx); err != nil {
		return err
	}
	if !s.IsValid() {
		if err := s.Err(); err != nil {
			return err
		}
		return errors.New("subscription refused by the broker")
	}
	cl.subs[topic] = s
	return nil
}

// trimEOL removes the line's end: LF, CRLF, or any run of CR and LF
// (bytes.TrimRight builds a set for its cutset on every call).
func trimEOL(line []byte) []byte {
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	return line
}

func result(err error) string {
	if err != nil {
		return "-ERR " + err.Error()
	}
	return "+OK"
}

// appendOneLine appends a payload so that it stays on one line of the
// text protocol: CR and LF become the two characters \r and \n.
func appendOneLine(b, p []byte) []byte {
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			return append(b, p...)
		}
		b = append(b, p[:i]...)
		if p[i] == '\r' {
			b = append(b, `\r`...)
		} else {
			b = append(b, `\n`...)
		}
		p = p[i+1:]
	}
	return b
}

// oneLine is appendOneLine for an answer line.
func oneLine(p []byte) string { return string(appendOneLine(nil, p)) }
