// Package adapters holds the native-protocol session engine shared by the
// TCP, WebSocket and QUIC adapters: it turns frames into broker calls and
// broker deliveries into batched writes, once, for every transport.
package adapters

import (
	"io"
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
}

// NewStreamConn returns a FrameConn reading frames of at most maxFrame body
// bytes from s.
func NewStreamConn(s Stream, maxFrame int) *StreamConn {
	return &StreamConn{s: s, r: wire.NewReader(s, maxFrame)}
}

// ReadFrame implements FrameConn.
func (c *StreamConn) ReadFrame(f *wire.Frame) error { return c.r.Next(f) }

// WriteFrames implements FrameConn.
func (c *StreamConn) WriteFrames(p []byte) error {
	_, err := c.s.Write(p)
	return err
}

// SetReadDeadline implements FrameConn.
func (c *StreamConn) SetReadDeadline(t time.Time) error { return c.s.SetReadDeadline(t) }

// SetWriteDeadline implements FrameConn.
func (c *StreamConn) SetWriteDeadline(t time.Time) error { return c.s.SetWriteDeadline(t) }

// Close implements FrameConn.
func (c *StreamConn) Close() error { return c.s.Close() }
