package sdk

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/msgtrans/msgtrans/wire"
)

// run owns the connection's lifetime: it serves one transport after another
// until Close, or until reconnecting gives up.
func (c *Conn) run(tr transport, r *wire.Reader) {
	defer close(c.done)
	for {
		err := c.serve(tr, r)
		c.mu.Lock()
		if c.state == stateClosed {
			c.mu.Unlock()
			return
		}
		c.disconnectedLocked()
		c.mu.Unlock()
		if h := c.opts.DisconnectHandler; h != nil {
			c.event(func() { h(c, err) })
		}
		var se *ServerError
		if errors.As(err, &se) && se.Code == wire.CodeAuth {
			c.giveUp(err)
			return
		}
		if tr, r = c.reconnect(err); tr == nil {
			return
		}
	}
}

// serve runs the reader on this goroutine and a writer beside it until the
// transport fails or the connection closes.
func (c *Conn) serve(tr transport, r *wire.Reader) error {
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	c.mu.Lock()
	c.writerUp = true
	c.mu.Unlock()
	go c.writeLoop(tr, stop, writerDone)
	err := c.readLoop(r)
	tr.Close()
	close(stop)
	<-writerDone
	return err
}

// disconnectedLocked fails what waited for the lost server and keeps only
// plain publishes for the next one: subscriptions are restored from the
// subscription table, and acknowledged publishes and flushes report
// ErrConnectionLost so the caller knows they were not confirmed.
func (c *Conn) disconnectedLocked() {
	c.state = stateReconnecting
	c.room.Broadcast()
	c.tr = nil
	c.failWaitersLocked(ErrConnectionLost)
	kept := c.spare[:0]
	for p := c.wbuf; len(p) >= wire.HeaderLen; {
		n, ok := wire.FrameLen(p)
		if !ok || n > len(p) {
			break
		}
		if wire.Type(p[4]) == wire.TypePub && !wire.Flags(p[5]).Has(wire.FlagAck) {
			kept = append(kept, p[:n]...)
		}
		p = p[n:]
	}
	c.spare = c.wbuf[:0]
	c.wbuf = kept
}

// reconnect tries the URL list, in order, with growing pauses, and installs
// the first transport that completes a handshake.
func (c *Conn) reconnect(cause error) (transport, *wire.Reader) {
	wait := c.opts.ReconnectWait
	for attempt := 0; c.opts.MaxReconnects < 0 || attempt < c.opts.MaxReconnects; attempt++ {
		jitter := time.Duration(rand.Int64N(int64(wait)/5 + 1))
		select {
		case <-time.After(wait + jitter):
		case <-c.closedCh:
			return nil, nil
		}
		wait = min(2*wait, c.opts.MaxReconnectWait)
		for _, u := range c.urls {
			tr, r, w, err := c.connectOne(u)
			if err != nil {
				cause = err
				continue
			}
			c.mu.Lock()
			if c.state == stateClosed {
				c.mu.Unlock()
				tr.Close()
				return nil, nil
			}
			// Subscriptions first, then a PING whose PONG tells the reader
			// they are in place (an empty pongWaiter: the reader then
			// reports the reconnect), then what was published meanwhile.
			buf := c.spare[:0]
			for _, s := range c.sortedSubs() {
				buf = s.appendResubscribe(buf)
			}
			buf = wire.AppendPing(buf)
			// Flushes made while disconnected have their PINGs in wbuf,
			// after this one.
			c.pongs = slices.Insert(c.pongs, 0, pongWaiter{})
			buf = append(buf, c.wbuf...)
			c.spare = c.wbuf[:0]
			c.wbuf = buf
			c.tr, c.url, c.welcome, c.state = tr, u, w, stateConnected
			c.mu.Unlock()
			c.reconnects.Add(1)
			c.signal()
			return tr, r
		}
	}
	c.giveUp(fmt.Errorf("%w: gave up after %d attempts: %w", ErrNoServers, c.opts.MaxReconnects, cause))
	return nil, nil
}

func (c *Conn) giveUp(err error) {
	c.mu.Lock()
	if c.state != stateClosed {
		c.closeLocked(err, true)
	}
	c.mu.Unlock()
}

// writeLoop writes buffered frames in batches and watches the server's
// heartbeat; it closes tr when the server falls silent.
func (c *Conn) writeLoop(tr transport, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer func() {
		// Publishers waiting for queue space must not wait for a writer
		// that is gone; the reader notices the failure soon after.
		c.mu.Lock()
		c.writerUp = false
		c.room.Broadcast()
		c.mu.Unlock()
	}()
	c.mu.Lock()
	hb := time.Duration(c.welcome.HeartbeatMS) * time.Millisecond
	c.mu.Unlock()
	if hb <= 0 {
		hb = 30 * time.Second
	}
	tick := time.NewTicker(hb)
	defer tick.Stop()
	lastFrames, lastSeen := c.framesIn.Load(), time.Now()
	for {
		select {
		case <-stop:
			return
		case <-c.kick:
		case now := <-tick.C:
			if n := c.framesIn.Load(); n != lastFrames {
				lastFrames, lastSeen = n, now
			} else if now.Sub(lastSeen) > 2*hb+hb/2 {
				// The server PINGs every hb; silence this long means it is gone.
				tr.Close()
				return
			}
		}
		for {
			c.mu.Lock()
			if len(c.wbuf) == 0 {
				closed := c.state == stateClosed
				c.mu.Unlock()
				if closed {
					tr.Close()
					return
				}
				break
			}
			batch := c.wbuf
			c.wbuf = c.spare[:0]
			c.room.Broadcast()
			c.mu.Unlock()
			err := writeChunks(tr, batch)
			c.mu.Lock()
			if cap(batch) <= 1<<20 {
				c.spare = batch[:0]
			} else {
				c.spare = nil
			}
			c.mu.Unlock()
			if err != nil {
				tr.Close()
				return
			}
		}
	}
}

// readLoop handles frames from the server until the transport fails.
func (c *Conn) readLoop(r *wire.Reader) error {
	var f wire.Frame
	for {
		if err := r.Next(&f); err != nil {
			return err
		}
		c.framesIn.Add(1)
		switch f.Type {
		case wire.TypeMsg:
			c.processMsg(&f)
		case wire.TypePing:
			c.mu.Lock()
			c.wbuf = wire.AppendPong(c.wbuf)
			c.mu.Unlock()
			c.signal()
		case wire.TypePong:
			c.mu.Lock()
			var restored bool
			if len(c.pongs) > 0 {
				restored = c.answerPongLocked(c.pongs[0], nil)
				c.pongs = c.pongs[1:]
			}
			c.mu.Unlock()
			if h := c.opts.ReconnectHandler; restored && h != nil {
				c.event(func() { h(c) })
			}
		case wire.TypeAck:
			var err error
			if f.Code != wire.CodeOK {
				err = serverError(f.Code, f.Text, false)
			}
			c.mu.Lock()
			if p := c.acks.take(f.AckID); p.fn != nil {
				c.answerAckLocked(p, err)
			}
			c.mu.Unlock()
		case wire.TypeErr:
			se := serverError(f.Code, f.Text, f.Flags.Has(wire.FlagFatal))
			if se.Fatal {
				return se
			}
			c.subsMu.Lock()
			s := c.subs[f.SID]
			if s != nil && f.SID != 0 {
				// The broker refused this subscription (or its unsubscribe).
				delete(c.subs, f.SID)
				s.close(se, false)
			}
			c.subsMu.Unlock()
			c.asyncError(s, se)
		default:
			return fmt.Errorf("sdk: unexpected %v frame from server", f.Type)
		}
	}
}

// smallMsg is a received message with room for a small payload, so that
// the common message costs one allocation rather than two.
type smallMsg struct {
	m    Msg
	data [smallPayload]byte
}

// smallPayload makes a smallMsg 192 bytes, a size class of Go's allocator.
const smallPayload = 88

// ownedPayload: payloads of at least this many bytes the reader reads into
// a buffer of their own (wire.Reader.SetOwnedPayloads), which becomes the
// message's Data. Smaller ones are copied out of the read buffer: a fresh
// buffer is zeroed before the read fills it, which costs about as much as
// the copy, so the direct read pays off only when most of the payload
// comes straight from the socket (reads the size of the read buffer,
// 64 KiB, and more).
const ownedPayload = 64 << 10

func newPayload(n int) []byte { return make([]byte, n) }

func (c *Conn) processMsg(f *wire.Frame) {
	c.subsMu.RLock()
	s := c.subs[f.SID]
	c.subsMu.RUnlock()
	c.inMsgs.Add(1)
	c.inBytes.Add(uint64(len(f.Payload)))
	if s == nil {
		return // unsubscribed meanwhile
	}
	var m *Msg
	if n := len(f.Payload); n <= smallPayload {
		// One allocation for the message and its payload.
		sm := &smallMsg{}
		m = &sm.m
		if n > 0 {
			m.Data = sm.data[:n:n]
			copy(m.Data, f.Payload)
		}
	} else if n >= ownedPayload {
		m = &Msg{Data: f.Payload} // the reader read it into a buffer of its own
	} else {
		m = &Msg{Data: append([]byte(nil), f.Payload...)}
	}
	// A subscription mostly receives one topic again and again: reuse its
	// string (comparing does not allocate).
	if string(f.Topic) != s.lastTopic {
		s.lastTopic = string(f.Topic)
	}
	m.Topic = s.lastTopic
	if len(f.Reply) > 0 {
		m.Reply = string(f.Reply)
	}
	m.Retain = f.Flags.Has(wire.FlagRetain)
	m.RetainFlag = f.Flags.Has(wire.FlagRetainFlag)
	m.noResponders = f.Flags.Has(wire.FlagNoResponders)
	if f.TTL > 0 {
		m.TTL = time.Duration(f.TTL) * time.Millisecond
		m.expires = time.Now().Add(m.TTL)
	}
	m.Sub, m.conn = s, c
	if len(f.Header) > 0 {
		h, err := wire.ParseHeader(f.Header)
		if err != nil {
			c.asyncError(s, err)
			return
		}
		m.Header = h
	}
	s.enqueue(m)
}

// writeChunks writes a batch of whole frames in chunks of about 256 KiB,
// renewing the write deadline for each, so that a server that reads slowly
// but steadily is not mistaken for a dead one.
func writeChunks(tr transport, batch []byte) error {
	const chunk = 256 << 10
	for len(batch) > 0 {
		n := wire.ChunkLen(batch, chunk)
		tr.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := tr.Write(batch[:n]); err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}
