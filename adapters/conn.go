// Package adapters holds the native-protocol session engine shared by the
// TCP, WebSocket and QUIC adapters: it turns frames into broker calls and
// broker deliveries into batched writes, once, for every transport.
package adapters

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/wire"
)

// FrameConn carries native protocol frames over one transport connection.
type FrameConn interface {
	// ReadFrame reads the next frame into f. f's slices stay valid until
	// the next ReadFrame. It is called from one goroutine only.
	ReadFrame(f *wire.Frame) error
	// WriteFrames writes p, which holds one or more whole frames. It is
	// called from one goroutine only (the session's writer).
	WriteFrames(p []byte) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	// Close closes the connection; a blocked ReadFrame or WriteFrames
	// returns.
	Close() error
}

// Stream is a byte stream with deadlines: a net.Conn, a QUIC stream.
type Stream interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// StreamConn is a FrameConn over a byte stream: frames are read in place
// from one large buffer, and a batch of frames is one Write call.
type StreamConn struct {
	s Stream
	r *wire.Reader
	w *ReadWaiter // nil if s is not a plain socket

	// Parking (SetPoller): the poller, the id of the latest parking (for
	// Close to take it back), whether Close has begun, and whether this
	// connection counts in the poller's held sessions.
	p      *Poller
	parkID atomic.Uint64
	closed atomic.Bool
	held   bool
	// wspan is the length of the last write deadline: a write that times
	// out after making progress goes on with a new deadline of that
	// length, so a deadline bounds how long the peer takes nothing, not
	// how long a large batch takes.
	wspan atomic.Int64 // time.Duration
}

// NewStreamConn returns a FrameConn reading frames of at most maxFrame body
// bytes from s.
func NewStreamConn(s Stream, maxFrame int) *StreamConn {
	r := wire.NewReader(s, maxFrame)
	return &StreamConn{s: s, r: r, w: NewReadWaiter(s, r)}
}

// ReadFrame implements FrameConn.
func (c *StreamConn) ReadFrame(f *wire.Frame) error { return c.r.Next(f) }

// CanWaitIdle implements idleReader: a plain TCP socket can (on Linux).
func (c *StreamConn) CanWaitIdle() bool { return c.w != nil }

// Buffered implements idleReader.
func (c *StreamConn) Buffered() int { return c.r.Buffered() }

// WaitIdle implements idleReader: it waits until the peer sends something
// and reads it, giving the read buffer back (to the pool, SetPool) for as
// long as it has to wait.
func (c *StreamConn) WaitIdle() error { return c.w.Wait() }

// SetPoller lets the connection park on p when its session is quiet (see
// Park): a plain TCP socket on Linux only; otherwise it does nothing.
func (c *StreamConn) SetPoller(p *Poller) {
	if c.w != nil {
		c.p = p
	}
}

// CanPark implements parker.
func (c *StreamConn) CanPark() bool { return c.p != nil }

// Park implements parker: with nothing buffered, it gives the read buffer
// back and hands the wait for the peer to the poller, which runs resume on
// a new goroutine when the peer sends something or the connection is
// closed. It returns false if the connection is closing: the caller goes
// on reading (and finds it closed).
func (c *StreamConn) Park(resume func()) bool {
	c.r.Idle()
	if !c.held {
		// Before the parking can be resumed and the session end.
		c.held = true
		c.p.held.Add(1)
	}
	id := c.p.reserve(resume)
	c.parkID.Store(id)
	// Close sets closed, then takes parkID; this stores parkID, then
	// reads closed: one of the two sees the other.
	if c.closed.Load() || c.p.arm(c.w.raw, id) != nil {
		// Unless Close took the parking (then its resume runs), the
		// session goes on on this goroutine.
		return c.p.take(id) == nil
	}
	return true
}

// SetMaxFrame changes the largest frame body accepted from now on.
func (c *StreamConn) SetMaxFrame(n int) { c.r.SetMaxFrame(n) }

// SetPool makes the connection borrow buffers for large frames from p.
func (c *StreamConn) SetPool(p *wire.Pool) { c.r.SetPool(p) }

// Release gives a borrowed read buffer back, and the connection's place
// among the poller's held sessions; call it once the session is over.
func (c *StreamConn) Release() {
	c.r.Release()
	if c.held {
		c.held = false
		c.p.held.Done()
	}
}

// SetStallTimeout bounds how long a begun frame may take to arrive whole;
// ReadFrame then fails with wire.ErrStalled. It uses the stream's read
// deadline, which the caller must not set otherwise from then on.
func (c *StreamConn) SetStallTimeout(d time.Duration) { c.r.SetStallTimeout(d, c.s.SetReadDeadline) }

// WriteFrames implements FrameConn.
func (c *StreamConn) WriteFrames(p []byte) error {
	for {
		n, err := c.s.Write(p)
		var ne net.Error
		span := time.Duration(c.wspan.Load())
		if err == nil || n == 0 || span <= 0 || !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
		p = p[n:]
		c.s.SetWriteDeadline(time.Now().Add(span))
	}
}

// SetReadDeadline implements FrameConn.
func (c *StreamConn) SetReadDeadline(t time.Time) error { return c.s.SetReadDeadline(t) }

// SetWriteDeadline implements FrameConn. It is called from the writer's
// goroutine, or to cut a writer short; the span it records only extends a
// write that keeps making progress.
func (c *StreamConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		c.wspan.Store(0)
	} else {
		c.wspan.Store(int64(time.Until(t)))
	}
	return c.s.SetWriteDeadline(t)
}

// Close implements FrameConn. A parked connection is taken back from the
// poller first (a closed socket leaves the epoll set without an event), so
// that its session goes on, finds the connection closed, and ends.
func (c *StreamConn) Close() error {
	if c.p != nil {
		c.closed.Store(true)
		if resume := c.p.take(c.parkID.Load()); resume != nil {
			go resume()
		}
	}
	return c.s.Close()
}
