package ws

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"

	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Route serves another URL path of the WebSocket listener, with its own
// subprotocol, for a protocol other than the native one (MQTT over
// WebSocket at /mqtt). Its connections are byte streams: reads return the
// payloads of the client's binary messages in order, wherever the
// protocol's packets begin and end, and each write is one binary message.
type Route struct {
	Path        string
	Subprotocol string // the client must offer it
	// Serve takes the stream once upgraded, and owns it: it must close it.
	// It may return before the stream ends (handing it to a protocol).
	Serve func(ctx context.Context, c net.Conn)
}

// ErrText is the error of a text message on a Route's stream.
var ErrText = errors.New("ws: text message on a binary stream")

// stream is a Route's net.Conn over an upgraded connection. Reads happen
// on one goroutine; writes come from the protocol's writer and from the
// reader answering pings and closes, serialized by wmu.
type stream struct {
	net.Conn
	rd      wsutil.Reader
	inFrame bool // rd has a data frame whose payload is being read
	wmu     sync.Mutex
}

func newStream(c net.Conn, maxMessage int64) *stream {
	s := &stream{Conn: c}
	s.rd = wsutil.Reader{Source: c, State: gws.StateServerSide, MaxMessageSize: maxMessage,
		OnIntermediate: wsutil.ControlFrameHandler(lockedWriter{s}, gws.StateServerSide)}
	return s
}

// Read returns payload bytes of the client's binary messages.
func (s *stream) Read(p []byte) (int, error) {
	for {
		if s.inFrame {
			n, err := s.rd.Read(p)
			if errors.Is(err, io.EOF) {
				s.inFrame = false // the end of a message, not of the stream
				err = nil
				if n == 0 {
					continue
				}
			}
			return n, err
		}
		h, err := s.rd.NextFrame()
		if err != nil {
			return 0, err
		}
		switch {
		case h.OpCode.IsControl():
			if err := wsutil.ControlFrameHandler(lockedWriter{s}, gws.StateServerSide)(h, &s.rd); err != nil {
				if _, closed := err.(wsutil.ClosedError); closed {
					return 0, io.EOF
				}
				return 0, err
			}
		case h.OpCode == gws.OpText:
			return 0, ErrText
		default:
			s.inFrame = true
		}
	}
}

// Write sends p as one binary message.
func (s *stream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := gws.WriteFrame(s.Conn, gws.NewBinaryFrame(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// lockedWriter writes the reader's control frame answers under wmu.
type lockedWriter struct{ s *stream }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.wmu.Lock()
	defer w.s.wmu.Unlock()
	return w.s.Conn.Write(p)
}
