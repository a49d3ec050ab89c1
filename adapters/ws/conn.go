package ws

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/wire"
)

// Errors a WebSocket peer can cause; each closes the connection with the
// matching close code.
var (
	ErrTextMessage = errors.New("ws: text message (the protocol is binary)")
	ErrNotOneFrame = errors.New("ws: a binary message must hold exactly one protocol frame")
)

// conn is an adapters.FrameConn over an upgraded WebSocket connection.
// Reads happen on the engine's reader goroutine; writes come from the
// engine's writer and from the reader answering pings, so they are
// serialized by wmu.
type conn struct {
	c        net.Conn
	rd       wsutil.Reader
	msg      []byte // the current message, reassembled from its fragments
	maxFrame int

	wmu    sync.Mutex
	bw     *bufio.Writer
	hdr    [gws.MaxHeaderSize]byte
	closed bool
}

func newConn(c net.Conn, maxFrame int) *conn {
	wc := &conn{c: c, maxFrame: maxFrame, bw: bufio.NewWriterSize(c, 32<<10)}
	wc.rd = wsutil.Reader{
		Source:         bufio.NewReaderSize(c, 32<<10),
		State:          gws.StateServerSide,
		MaxFrameSize:   int64(maxFrame + wire.HeaderLen),
		MaxMessageSize: int64(maxFrame + wire.HeaderLen),
		OnIntermediate: wc.control,
	}
	return wc
}

// SetMaxFrame changes the largest frame (and so message) accepted from the
// next message on.
func (wc *conn) SetMaxFrame(n int) {
	wc.maxFrame = n
	wc.rd.MaxFrameSize = int64(n + wire.HeaderLen)
	wc.rd.MaxMessageSize = int64(n + wire.HeaderLen)
}

// ReadFrame implements adapters.FrameConn: it reads the next binary message
// (answering pings and close on the way) and decodes the one frame in it.
func (wc *conn) ReadFrame(f *wire.Frame) error {
	for {
		hdr, err := wc.rd.NextFrame()
		if err != nil {
			return wc.readError(err)
		}
		if hdr.OpCode.IsControl() {
			if err := wc.control(hdr, &wc.rd); err != nil {
				return err
			}
			continue
		}
		if hdr.OpCode == gws.OpText {
			wc.closeWith(gws.StatusUnsupportedData, "binary messages only", true)
			return ErrTextMessage
		}
		// wc.rd.Read follows continuation frames (and intermediate control
		// frames) until the message ends; the reader's limits bound it.
		wc.msg = wc.msg[:0]
		if int64(cap(wc.msg)) < hdr.Length {
			// NextFrame checked the length against the limit.
			wc.msg = make([]byte, 0, hdr.Length)
		}
		for {
			if len(wc.msg) == cap(wc.msg) {
				wc.msg = append(wc.msg, 0)[:len(wc.msg)]
			}
			n, err := wc.rd.Read(wc.msg[len(wc.msg):cap(wc.msg)])
			wc.msg = wc.msg[:len(wc.msg)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return wc.readError(err)
			}
		}
		n, err := wire.Decode(wc.msg, f, wc.maxFrame)
		switch {
		case errors.Is(err, wire.ErrShort):
			return fmt.Errorf("%w: %w", ErrNotOneFrame, adapters.ErrProtocol)
		case err != nil:
			return err
		case n != len(wc.msg):
			return fmt.Errorf("%w: %w", ErrNotOneFrame, adapters.ErrProtocol)
		}
		if cap(wc.msg) > 64<<10 && len(wc.msg) < 16<<10 {
			wc.msg = nil // let a large message's buffer go
		}
		return nil
	}
}

func (wc *conn) readError(err error) error {
	switch {
	case errors.Is(err, wsutil.ErrFrameTooLarge), errors.Is(err, wsutil.ErrMessageTooLarge):
		wc.closeWith(gws.StatusMessageTooBig, "message too big", true)
		return fmt.Errorf("%w: %w", wire.ErrFrameTooLarge, err)
	case errors.Is(err, gws.ErrProtocolOpCodeReserved), errors.Is(err, gws.ErrProtocolNonZeroRsv),
		errors.Is(err, gws.ErrProtocolMaskRequired), errors.Is(err, gws.ErrProtocolControlPayloadOverflow),
		errors.Is(err, gws.ErrProtocolControlNotFinal), errors.Is(err, gws.ErrProtocolContinuationExpected),
		errors.Is(err, gws.ErrProtocolContinuationUnexpected):
		wc.closeWith(gws.StatusProtocolError, err.Error(), true)
		return fmt.Errorf("ws: %w: %w", adapters.ErrProtocol, err)
	}
	return err
}

// control answers a ping with a pong and a close with a close; a close
// ends the read side with io.EOF.
func (wc *conn) control(h gws.Header, r io.Reader) error {
	var p [125]byte // control payloads are at most 125 bytes
	n, err := io.ReadFull(r, p[:h.Length])
	if err != nil {
		return err
	}
	switch h.OpCode {
	case gws.OpPing:
		return wc.writeControl(gws.OpPong, p[:n])
	case gws.OpClose:
		code, _ := gws.ParseCloseFrameData(p[:n])
		if code.Empty() {
			code = gws.StatusNormalClosure
		}
		wc.closeWith(code, "", true)
		return io.EOF
	}
	return nil
}

func (wc *conn) writeControl(op gws.OpCode, p []byte) error {
	wc.wmu.Lock()
	defer wc.wmu.Unlock()
	if wc.closed {
		return net.ErrClosed
	}
	wc.c.SetWriteDeadline(time.Now().Add(time.Second))
	if err := gws.WriteHeaderBuffer(wc.bw, gws.Header{Fin: true, OpCode: op, Length: int64(len(p))}, wc.hdr[:]); err != nil {
		return err
	}
	wc.bw.Write(p)
	return wc.bw.Flush()
}

// closeWith sends a close frame once; later writes fail. Without wait it
// gives up on the close frame when a write is in progress (a peer that
// does not read must not hold up a shutdown).
func (wc *conn) closeWith(code gws.StatusCode, reason string, wait bool) {
	if wait {
		wc.wmu.Lock()
	} else if !wc.wmu.TryLock() {
		return
	}
	defer wc.wmu.Unlock()
	if wc.closed {
		return
	}
	wc.closed = true
	body := gws.NewCloseFrameBody(code, reason)
	wc.c.SetWriteDeadline(time.Now().Add(time.Second))
	if gws.WriteHeaderBuffer(wc.bw, gws.Header{Fin: true, OpCode: gws.OpClose, Length: int64(len(body))}, wc.hdr[:]) == nil {
		wc.bw.Write(body)
		wc.bw.Flush()
	}
}

// WriteFrames implements adapters.FrameConn: each frame in p becomes one
// binary message; all go out in as few writes as the buffer allows.
func (wc *conn) WriteFrames(p []byte) error {
	wc.wmu.Lock()
	defer wc.wmu.Unlock()
	if wc.closed {
		return net.ErrClosed
	}
	for len(p) > 0 {
		n, ok := wire.FrameLen(p)
		if !ok || n > len(p) {
			return fmt.Errorf("ws: partial frame in write batch")
		}
		if err := gws.WriteHeaderBuffer(wc.bw, gws.Header{Fin: true, OpCode: gws.OpBinary, Length: int64(n)}, wc.hdr[:]); err != nil {
			return err
		}
		if _, err := wc.bw.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return wc.bw.Flush()
}

// SetReadDeadline implements adapters.FrameConn.
func (wc *conn) SetReadDeadline(t time.Time) error { return wc.c.SetReadDeadline(t) }

// SetWriteDeadline implements adapters.FrameConn.
func (wc *conn) SetWriteDeadline(t time.Time) error { return wc.c.SetWriteDeadline(t) }

// Close implements adapters.FrameConn: a normal close frame, then the
// socket.
func (wc *conn) Close() error {
	wc.closeWith(gws.StatusNormalClosure, "", false)
	return wc.c.Close()
}
