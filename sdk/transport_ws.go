package sdk

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/msgtrans/msgtrans/wire"
)

// wsTransport carries the native byte stream over WebSocket: the server
// sends one frame per binary message, so reading the messages' payloads in
// order yields the frame stream; each frame written becomes one masked
// binary message.
type wsTransport struct {
	net.Conn
	rd    wsutil.Reader
	inMsg bool

	wmu sync.Mutex
	bw  *bufio.Writer
	hdr [gws.MaxHeaderSize]byte
	// out and iov are writeDirect's: the copied pieces, and the pieces of
	// its vectored write.
	out []byte
	iov [][]byte
}

func (c *Conn) dialWS(ctx context.Context, u *url.URL) (transport, error) {
	d := gws.Dialer{Protocols: []string{wire.Subprotocol}}
	if u.Scheme == "wss" {
		d.TLSConfig = c.opts.tlsConfig(u.Hostname())
	}
	conn, br, hs, err := d.Dial(ctx, u.String())
	if err != nil {
		return nil, err
	}
	if hs.Protocol != wire.Subprotocol {
		conn.Close()
		return nil, fmt.Errorf("sdk: websocket server at %s did not accept subprotocol %s", u.Redacted(), wire.Subprotocol)
	}
	t := &wsTransport{Conn: conn, bw: bufio.NewWriterSize(conn, 32<<10)}
	var src io.Reader = conn
	if br != nil {
		// Bytes the server sent right after the upgrade response.
		src = io.MultiReader(br, conn)
	}
	// The WebSocket reader reads headers a few bytes at a time.
	src = bufio.NewReaderSize(src, 32<<10)
	t.rd = wsutil.Reader{
		Source:         src,
		State:          gws.StateClientSide,
		MaxFrameSize:   clientMaxFrame + wire.HeaderLen,
		MaxMessageSize: clientMaxFrame + wire.HeaderLen,
		OnIntermediate: t.control,
	}
	return t, nil
}

// setMaxFrame bounds the WebSocket messages read to frames of n body bytes.
func (t *wsTransport) setMaxFrame(n int) {
	t.rd.MaxFrameSize = int64(n + wire.HeaderLen)
	t.rd.MaxMessageSize = int64(n + wire.HeaderLen)
}

func (t *wsTransport) Read(p []byte) (int, error) {
	for {
		if !t.inMsg {
			hdr, err := t.rd.NextFrame()
			if err != nil {
				return 0, err
			}
			if hdr.OpCode.IsControl() {
				if err := t.control(hdr, &t.rd); err != nil {
					return 0, err
				}
				continue
			}
			if hdr.OpCode != gws.OpBinary {
				return 0, errors.New("sdk: websocket server sent a non-binary message")
			}
			t.inMsg = true
		}
		n, err := t.rd.Read(p)
		if err == io.EOF {
			t.inMsg = false
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// control answers pings; a close from the server ends the stream.
func (t *wsTransport) control(h gws.Header, r io.Reader) error {
	var p [125]byte
	n, err := io.ReadFull(r, p[:h.Length])
	if err != nil {
		return err
	}
	switch h.OpCode {
	case gws.OpPing:
		t.wmu.Lock()
		defer t.wmu.Unlock()
		return t.writeMessage(gws.OpPong, p[:n])
	case gws.OpClose:
		return io.EOF
	}
	return nil
}

// directFrame: frames at least this large are written from p itself,
// beside their headers, in one vectored write, rather than copied into the
// buffered writer first.
const directFrame = 4 << 10

// Write sends each frame in p as one masked binary message. It masks p in
// place: the caller does not reuse what it wrote.
func (t *wsTransport) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	total := len(p)
	for q := p; len(q) > 0; {
		n, ok := wire.FrameLen(q)
		if !ok || n > len(q) {
			return 0, errors.New("sdk: partial frame in websocket write")
		}
		if n >= directFrame {
			return t.writeDirect(p)
		}
		q = q[n:]
	}
	for len(p) > 0 {
		n, _ := wire.FrameLen(p)
		if err := t.writeMessage(gws.OpBinary, p[:n]); err != nil {
			return total - len(p), err
		}
		p = p[n:]
	}
	return total, t.bw.Flush()
}

// writeDirect writes the whole frames of p as masked binary messages in
// one vectored write: headers and small frames are copied into t.out,
// large frames are masked in place and written from p. t.wmu is held.
func (t *wsTransport) writeDirect(p []byte) (int, error) {
	if err := t.bw.Flush(); err != nil { // a pong may wait there
		return 0, err
	}
	out, bufs, mark := t.out[:0], t.iov[:0], 0
	// Headers and small frames, first, so that out never moves while
	// slices of it wait for the write.
	size := 0
	for q := p; len(q) > 0; {
		n, _ := wire.FrameLen(q)
		size += gws.MaxHeaderSize
		if n < directFrame {
			size += n
		}
		q = q[n:]
	}
	out = slices.Grow(out, size)
	for q := p; len(q) > 0; {
		n, _ := wire.FrameLen(q)
		mask := gws.NewMask()
		out = appendWSHeader(out, n, mask)
		gws.Cipher(q[:n], mask, 0)
		if n < directFrame {
			out = append(out, q[:n]...)
		} else {
			bufs = append(bufs, out[mark:], q[:n])
			mark = len(out)
		}
		q = q[n:]
	}
	if mark < len(out) {
		bufs = append(bufs, out[mark:])
	}
	v := net.Buffers(bufs) // WriteTo consumes v, not t.iov
	_, err := v.WriteTo(t.Conn)
	clear(bufs) // hold none of the caller's buffer
	t.iov = bufs[:0]
	if cap(out) <= 64<<10 {
		t.out = out[:0]
	} else {
		t.out = nil
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// appendWSHeader appends the header of a final, masked binary message of
// n payload bytes (RFC 6455, section 5.2).
func appendWSHeader(b []byte, n int, mask [4]byte) []byte {
	b = append(b, 0x80|byte(gws.OpBinary))
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, mask[:]...)
}

// writeMessage buffers one masked message; t.wmu is held.
func (t *wsTransport) writeMessage(op gws.OpCode, p []byte) error {
	mask := gws.NewMask()
	h := gws.Header{Fin: true, OpCode: op, Length: int64(len(p)), Masked: true, Mask: mask}
	if err := gws.WriteHeaderBuffer(t.bw, h, t.hdr[:]); err != nil {
		return err
	}
	gws.Cipher(p, mask, 0)
	_, err := t.bw.Write(p)
	if op != gws.OpBinary {
		if err == nil {
			err = t.bw.Flush()
		}
	}
	return err
}

// Close sends a close message, unless a write is stuck on a server that
// does not read, and closes the socket.
func (t *wsTransport) Close() error {
	if t.wmu.TryLock() {
		t.SetWriteDeadline(time.Now().Add(time.Second))
		t.writeMessage(gws.OpClose, gws.NewCloseFrameBody(gws.StatusNormalClosure, ""))
		t.wmu.Unlock()
	}
	return t.Conn.Close()
}
