package sdk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
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

// Write sends each frame in p as one masked binary message. It masks p in
// place: the caller does not reuse what it wrote.
func (t *wsTransport) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	total := len(p)
	for len(p) > 0 {
		n, ok := wire.FrameLen(p)
		if !ok || n > len(p) {
			return total - len(p), errors.New("sdk: partial frame in websocket write")
		}
		if err := t.writeMessage(gws.OpBinary, p[:n]); err != nil {
			return total - len(p), err
		}
		p = p[n:]
	}
	return total, t.bw.Flush()
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
