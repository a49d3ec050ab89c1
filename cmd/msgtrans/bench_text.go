package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/internal/batchq"
	"github.com/msgtrans/msgtrans/sdk"
)

// The text protocol is the example plugin's (cmd/example-plugin): one
// command per line (SUB, UNSUB, PUB, SEND, REQ, PING), one answer per
// command but SEND in command order (+OK, -ERR reason, PONG, REPLY
// payload), and pushed lines (MSG topic payload, REQUEST topic reply
// payload, ERROR reason for a refused SEND) between the answers. The bench
// publishes with SEND, as it publishes over the native protocol without
// acknowledgements; PONG comes once the broker has every earlier SEND and
// the refused ones are reported.

const (
	// textWriteChunk is how many queued bytes of publishes wake the
	// writer; commands that wait for their answer wake it at once.
	textWriteChunk = 64 << 10
	// textMaxQueued is how much a publisher may queue before it waits for
	// the writer.
	textMaxQueued = 1 << 20
	// A connection's read buffer starts at textReadMin, so that thousands
	// of idle connections stay small, and doubles up to textReadMax while
	// reads fill it.
	textReadMin = 4 << 10
	textReadMax = 64 << 10
)

// textMaxLine is the longest line a text connection accepts: a MSG or
// REQUEST line with the bench's payload and topic, and room for a reply
// topic.
func textMaxLine(size, topicLen int) int { return max(textReadMax, size+topicLen+512) }

var errTextLineTooLong = errors.New("the plugin sent a line longer than expected")

// textClient is a benchClient over one connection to the text protocol:
// one broker session inside the plugin. Commands are appended to a queue
// that a writer goroutine sends, many in one write call, so publishes are
// pipelined; one reader goroutine parses the lines in place. The commands
// that have an answer (PING, REQ, SUB) are numbered and matched with it; a
// SEND has none, and its refusal, an ERROR line, is counted.
type textClient struct {
	conn net.Conn
	url  string

	// The write side. Publishes start the writer only once
	// textWriteChunk bytes are queued; commands start it at once.
	out  batchq.Queue[byte]
	sent uint64 // commands with an answer queued so far; under out's lock
	mu   sync.Mutex
	dead error // why the connection ended; commands fail with it

	// The answer side.
	qmu      sync.Mutex
	answered uint64
	waiters  []*textWaiter // in command order

	onMsg atomic.Pointer[func([]byte)] // the subscription's callback
	echo  atomic.Bool                  // answer requests with their payload

	fmu          sync.Mutex
	failure      error  // the first asynchronous failure
	refused      uint64 // SENDs refused: ERROR lines
	firstRefusal string
	lastErrLine  string // the last -ERR line, to explain a hang-up

	closeOnce  sync.Once
	closing    atomic.Bool
	readerDone chan struct{}
}

// textWaiter is a command waiting for its answer: on ch, or through
// onAnswer (called on the reader goroutine).
type textWaiter struct {
	seq      uint64
	ch       chan string // closed if the connection dies first
	onAnswer func(string)
}

// dialTextClient connects to the text protocol at hostPort. The plugin
// opens the broker session before it reads a line, so the PONG to a first
// PING means the session is open.
func dialTextClient(ctx context.Context, hostPort string, timeout time.Duration, maxLine int) (*textClient, error) {
	u := "text://" + hostPort
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	c := newTextClient(conn, u, maxLine)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Flush(hctx); err != nil {
		c.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer to PING within %v", timeout)
		}
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return c, nil
}

// newTextClient starts the reader of a connection; its writer runs while
// there is something to send.
func newTextClient(conn net.Conn, url string, maxLine int) *textClient {
	c := &textClient{conn: conn, url: url, readerDone: make(chan struct{})}
	c.out.Init(batchq.Config[byte]{
		Write: conn.Write,
		End: func(err error, _ []byte) {
			if err != nil {
				c.die(fmt.Errorf("writing to %s: %w", c.url, err))
			}
		},
		KeepCap: 2 * textMaxQueued,
		StartAt: textWriteChunk,
	})
	go c.readLoop(maxLine)
	return c
}

func (c *textClient) URL() string { return c.url }

// checkTextArgs makes sure a command stays one line with the fields the
// plugin expects: a topic without spaces, a payload without CR or LF.
func checkTextArgs(topic string, payload []byte) error {
	if topic == "" || strings.ContainsAny(topic, " \r\n") {
		return fmt.Errorf("topic %q cannot be sent over the text protocol", topic)
	}
	if bytes.IndexByte(payload, '\n') >= 0 || bytes.IndexByte(payload, '\r') >= 0 {
		return errors.New("a payload with CR or LF cannot be sent over the text protocol")
	}
	return nil
}

func (c *textClient) Publish(topic string, payload []byte) error {
	if err := checkTextArgs(topic, payload); err != nil {
		return err
	}
	if _, ok := c.out.AppendWait(textMaxQueued, func(b []byte) []byte {
		return appendSend(b, topic, payload)
	}); !ok {
		return c.deadErr()
	}
	return nil
}

func appendSend(b []byte, topic string, payload []byte) []byte {
	b = append(b, "SEND "...)
	b = append(b, topic...)
	b = append(b, ' ')
	b = append(b, payload...)
	return append(b, "\r\n"...)
}

// send queues a command that has a waiter, and starts the writer. The
// command is numbered under the queue's lock, in the order it is queued.
func (c *textClient) send(w *textWaiter, cmd ...string) error {
	if _, ok := c.out.Append(func(b []byte) []byte {
		for i, s := range cmd {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, s...)
		}
		c.sent++
		w.seq = c.sent
		c.qmu.Lock()
		c.waiters = append(c.waiters, w)
		c.qmu.Unlock()
		return append(b, "\r\n"...)
	}); !ok {
		return c.deadErr()
	}
	c.out.Kick()
	return nil
}

// roundTrip sends a command and waits for its answer.
func (c *textClient) roundTrip(ctx context.Context, cmd ...string) (string, error) {
	w := &textWaiter{ch: make(chan string, 1)}
	if err := c.send(w, cmd...); err != nil {
		return "", err
	}
	select {
	case ans, ok := <-w.ch:
		if !ok {
			return "", c.deadErr()
		}
		return ans, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Flush sends PING: answers come in command order, and the plugin answers
// PING once the broker has every earlier SEND, after the ERROR lines of
// those it refused.
func (c *textClient) Flush(ctx context.Context) error {
	ans, err := c.roundTrip(ctx, "PING")
	if err != nil {
		return err
	}
	if ans != "PONG" {
		return fmt.Errorf("the plugin answered %q to PING", ans)
	}
	return nil
}

func (c *textClient) Subscribe(topic string, onMsg func([]byte)) error {
	if !c.onMsg.CompareAndSwap(nil, &onMsg) {
		return errors.New("one subscription per text connection")
	}
	return c.subscribe(topic)
}

func (c *textClient) Echo(topic, queue string) error {
	if queue == "" || strings.ContainsAny(queue, " \r\n") {
		return fmt.Errorf("queue %q cannot be sent over the text protocol", queue)
	}
	c.echo.Store(true)
	return c.subscribe(topic, queue)
}

// subscribe sends SUB without waiting: like the SDK's, the plugin's
// verdict comes before the answer to the next PING, as a Failure.
func (c *textClient) subscribe(topic string, queue ...string) error {
	if err := checkTextArgs(topic, nil); err != nil {
		return err
	}
	w := &textWaiter{onAnswer: func(ans string) {
		if ans != "+OK" {
			c.fail(fmt.Errorf("subscribe to %q: the plugin answered %q", topic, ans))
		}
	}}
	return c.send(w, append([]string{"SUB", topic}, queue...)...)
}

func (c *textClient) Request(ctx context.Context, topic string, payload []byte) error {
	if err := checkTextArgs(topic, payload); err != nil {
		return err
	}
	ans, err := c.roundTrip(ctx, "REQ", topic, string(payload))
	switch {
	case err != nil:
		return err
	case ans == "REPLY" || strings.HasPrefix(ans, "REPLY "):
		return nil
	case ans == "-ERR no responders":
		return fmt.Errorf("the plugin: %w", sdk.ErrNoResponders)
	}
	return fmt.Errorf("the plugin answered %q to REQ", ans)
}

func (c *textClient) Failure() error {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if c.refused > 0 {
		err := fmt.Errorf("%d publishes refused by the plugin, the first with %q", c.refused, c.firstRefusal)
		if c.failure != nil {
			err = fmt.Errorf("%w; %w", c.failure, err)
		}
		return err
	}
	return c.failure
}

func (c *textClient) fail(err error) {
	if c.closing.Load() {
		return
	}
	c.fmu.Lock()
	if c.failure == nil {
		c.failure = err
	}
	c.fmu.Unlock()
}

func (c *textClient) Close() error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.out.Close(dropAll) // what is not written yet is not sent
		c.conn.Close()
		<-c.readerDone
		c.out.Wait()
	})
	return nil
}

func dropAll(b []byte) []byte { return b[:0] }

// die ends the connection: commands fail with err from now on, and so do
// those waiting for an answer.
func (c *textClient) die(err error) {
	c.mu.Lock()
	if c.dead == nil {
		c.dead = err
	}
	c.mu.Unlock()
	// Commands fail from now on (and find dead set); those queued before
	// have their waiters, failed below.
	c.out.Close(dropAll)
	c.conn.Close()
	c.qmu.Lock()
	ws := c.waiters
	c.waiters = nil
	c.qmu.Unlock()
	for _, w := range ws {
		if w.ch != nil {
			close(w.ch)
		}
	}
	c.fail(err)
}

func (c *textClient) deadErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead == nil {
		return net.ErrClosed // Close, and the reader has not noticed yet
	}
	return c.dead
}

var (
	textMsg     = []byte("MSG ")
	textRequest = []byte("REQUEST ")
	textError   = []byte("ERROR ")
)

func (c *textClient) readLoop(maxLine int) {
	defer close(c.readerDone)
	lr := lineReader{r: c.conn, buf: make([]byte, textReadMin), max: maxLine}
	for {
		line, err := lr.next()
		if err != nil {
			c.die(c.readError(err))
			return
		}
		switch {
		case bytes.HasPrefix(line, textMsg): // MSG topic payload
			_, payload := cutSpace(line[len(textMsg):])
			if f := c.onMsg.Load(); f != nil {
				(*f)(payload)
			}
		case bytes.HasPrefix(line, textRequest): // REQUEST topic reply payload
			_, rest := cutSpace(line[len(textRequest):])
			reply, payload := cutSpace(rest)
			if c.echo.Load() {
				c.respond(reply, payload)
			}
		case bytes.HasPrefix(line, textError): // a refused SEND
			c.refusal(string(line))
		default:
			c.answer(line)
		}
	}
}

// cutSpace splits b at its first space.
func cutSpace(b []byte) (before, after []byte) {
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func (c *textClient) readError(err error) error {
	c.fmu.Lock()
	last := c.lastErrLine
	c.fmu.Unlock()
	if errors.Is(err, io.EOF) {
		err = errors.New("the plugin closed the connection")
	}
	if last != "" {
		return fmt.Errorf("%s: %w (its last error: %q)", c.url, err, last)
	}
	return fmt.Errorf("%s: %w", c.url, err)
}

// respond publishes a request's payload to its reply topic. It runs on the
// reader, so it never waits for room in the buffer.
func (c *textClient) respond(reply, payload []byte) {
	if _, ok := c.out.Append(func(b []byte) []byte { return appendSend(b, string(reply), payload) }); ok {
		c.out.Kick()
	}
}

// answer matches an answer line with its command.
func (c *textClient) answer(line []byte) {
	c.qmu.Lock()
	c.answered++
	n := c.answered
	var w *textWaiter
	if len(c.waiters) > 0 && c.waiters[0].seq == n {
		w = c.waiters[0]
		c.waiters[0] = nil
		c.waiters = c.waiters[1:]
	}
	c.qmu.Unlock()
	if w != nil {
		if w.onAnswer != nil {
			w.onAnswer(string(line))
		} else {
			w.ch <- string(line)
		}
		return
	}
	// An answer to no command: such as the plugin's last words before it
	// hangs up.
	s := string(line)
	if strings.HasPrefix(s, "-ERR") {
		c.fmu.Lock()
		c.lastErrLine = s
		c.fmu.Unlock()
	}
	c.fail(fmt.Errorf("%s: the plugin sent %q", c.url, s))
}

// refusal counts a SEND the plugin or the broker refused.
func (c *textClient) refusal(line string) {
	c.fmu.Lock()
	c.refused++
	if c.refused == 1 {
		c.firstRefusal = line
	}
	c.fmu.Unlock()
}

// lineReader reads lines in place from a buffer that grows while reads
// fill it, up to max bytes.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes
	scanned    int // of them, those known to hold no newline
	filled     bool
	max        int
}

// next returns the next line without its CR LF; it is valid until the
// next call.
func (lr *lineReader) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.start+lr.scanned:lr.end], '\n'); i >= 0 {
			line := lr.buf[lr.start : lr.start+lr.scanned+i]
			lr.start += lr.scanned + i + 1
			lr.scanned = 0
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		}
		lr.scanned = lr.end - lr.start
		if lr.start > 0 {
			lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.start = 0
		}
		if lr.end == len(lr.buf) || (lr.filled && len(lr.buf) < textReadMax) {
			if lr.end == len(lr.buf) && len(lr.buf) >= lr.max {
				return nil, errTextLineTooLong
			}
			nb := make([]byte, min(2*len(lr.buf), max(lr.max, len(lr.buf))))
			copy(nb, lr.buf[:lr.end])
			lr.buf = nb
		}
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.filled = lr.end+n == len(lr.buf)
		lr.end += n
		if n == 0 && err != nil {
			return nil, err
		}
	}
}
