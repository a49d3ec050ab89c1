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
	// IdleSocket: the wait for the peer without a buffer, and parking.
	IdleSocket
	// wspan is the length of the last write deadline: a write that times
	// out after making progress goes on with a new deadline of that
	// length, so a deadline bounds how long the peer takes nothing, not
	// how long a large batch takes.
	wspan atomic.Int64 // time.Duration
}

// NewStreamConn returns a FrameConn reading frames of at most maxFrame body
// bytes from s.
func NewStreamConn(s Stream, maxFrame int) *StreamConn {
	c := &StreamConn{s: s, r: wire.NewReader(s, maxFrame)}
	c.Init(s, c.r)
	return c
}

// ReadFrame implements FrameConn.
func (c *StreamConn) ReadFrame(f *wire.Frame) error { return c.r.Next(f) }

// Buffered implements idleReader.
func (c *StreamConn) Buffered() int { return c.r.Buffered() }

// SetMaxFrame changes the largest frame body accepted from now on.
func (c *StreamConn) SetMaxFrame(n int) { c.r.SetMaxFrame(n) }

// SetPool makes the connection borrow buffers for large frames from p.
func (c *StreamConn) SetPool(p *wire.Pool) { c.r.SetPool(p) }

// Release gives a borrowed read buffer back, and the connection's place
// among the poller's held sessions; call it once the session is over.
func (c *StreamConn) Release() {
	c.r.Release()
	c.Done()
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

// TryWriteFrames implements the engine's tryWriter (with CanTryWrite, a
// plain socket): p goes straight to the socket if it takes it at once.
func (c *StreamConn) TryWriteFrames(p []byte) (int, error) { return c.TryWrite(p) }

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
	c.Closing()
	return c.s.Close()
}
