package ws

import (
	"bytes"
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
	rb       *wire.Buffer   // under rd, and read directly by fastFrame
	rerr     error          // the first read error, returned from then on
	rd       *wsutil.Reader // the general path's reader, made when first needed (see reader)
	msg      []byte         // the current message, reassembled from its fragments
	maxFrame int
	pool     *wire.Pool // lends msg for messages over 64 KiB (SetPool)
	grant    int        // msg may start this large: a size the peer has sent whole

	dmu      sync.Mutex
	deadline time.Time // the last write deadline set through SetWriteDeadline

	wmu sync.Mutex
	// out collects WebSocket frames for one write call, kept between
	// writes while small (a bufio.Writer would hold 32 KiB for every
	// connection, idle or not).
	out    bytes.Buffer
	iov    [][]byte // the pieces of a vectored write (WriteFrames)
	hdr    [gws.MaxHeaderSize]byte
	closed bool

	// The wait for the peer between messages without a read buffer, and
	// parking when the session is quiet (plain ws:// on Linux).
	adapters.IdleSocket
}

// appendMessage appends p as one unfragmented message.
func (wc *conn) appendMessage(op gws.OpCode, p []byte) {
	// Writing into a bytes.Buffer cannot fail.
	gws.WriteHeaderBuffer(&wc.out, gws.Header{Fin: true, OpCode: op, Length: int64(len(p))}, wc.hdr[:])
	wc.out.Write(p)
}

// flush writes what appendMessage collected, in one write call.
// A failed write may have sent part of a message: nothing more may follow
// it (a close frame or a pong would land inside that message), so the
// connection counts as closed. wc.wmu is held.
func (wc *conn) flush() error {
	_, err := wc.c.Write(wc.out.Bytes())
	return wc.done(err)
}

// done ends a write of out: after a failure the connection counts as
// closed (see flush); out is emptied for the next. wc.wmu is held.
func (wc *conn) done(err error) error {
	if err != nil {
		wc.closed = true
	}
	if wc.out.Cap() > 64<<10 {
		wc.out = bytes.Buffer{} // let a large batch's buffer go
	} else {
		wc.out.Reset()
	}
	return err
}

func newConn(c net.Conn, maxFrame int) *conn {
	wc := &conn{c: c, maxFrame: maxFrame, rb: wire.NewBuffer(c, maxFastFrame)}
	wc.Init(c, wc.rb)
	return wc
}

// reader returns the general path's reader (control frames, fragments,
// text, large or malformed frames), made at its first use: a client whose
// messages all take fastFrame, as an idle one's do, never needs its
// couple of hundred bytes. Between messages it holds no state, so its
// limits are set here, from the current max frame.
func (wc *conn) reader() *wsutil.Reader {
	if wc.rd == nil {
		wc.rd = &wsutil.Reader{Source: wc.rb, State: gws.StateServerSide, OnIntermediate: wc.control}
	}
	wc.rd.MaxFrameSize = int64(wc.maxFrame + wire.HeaderLen)
	wc.rd.MaxMessageSize = int64(wc.maxFrame + wire.HeaderLen)
	return wc.rd
}

// Buffered implements the engine's idle wait: the bytes read and not yet
// taken. Between messages (where ReadFrame returns) nothing else is held.
func (wc *conn) Buffered() int { return wc.rb.Buffered() }

// SetMaxFrame changes the largest frame (and so message) accepted from the
// next message on.
func (wc *conn) SetMaxFrame(n int) {
	wc.maxFrame = n // the reader takes it at its next message
}

// SetPool makes the connection borrow buffers for large messages from p,
// handing each back once its frame is consumed.
func (wc *conn) SetPool(p *wire.Pool) {
	wc.pool = p
	wc.rb.SetPool(p) // where an idle connection's read buffer goes
}

// Release gives a borrowed message buffer back; call it once reading is
// over.
func (wc *conn) Release() {
	wc.releaseMsg()
	wc.rb.Release()
	wc.Done()
}

// SetStallTimeout bounds how long a begun message may take to arrive whole;
// ReadFrame then fails with wire.ErrStalled. It uses the connection's read
// deadline.
func (wc *conn) SetStallTimeout(d time.Duration) { wc.rb.SetStallTimeout(d, wc.c.SetReadDeadline) }

// ReadFrame implements adapters.FrameConn: it reads the next binary message
// (answering pings and close on the way) and decodes the one frame in it.
// An error is final: after one in the middle of a message the stream
// position is unknown, so later calls return the same error.
func (wc *conn) ReadFrame(f *wire.Frame) error {
	if wc.rerr != nil {
		return wc.rerr
	}
	err := wc.readFrame(f)
	if err != nil {
		wc.rerr = err
	}
	return err
}

func (wc *conn) readFrame(f *wire.Frame) error {
	wc.releaseMsg() // the last frame's slices are no longer in use
	if done, err := wc.fastFrame(f); done {
		return err
	}
	rd := wc.reader()
	for {
		hdr, err := rd.NextFrame()
		if err != nil {
			return wc.readError(err)
		}
		if hdr.OpCode.IsControl() {
			if err := wc.control(hdr, rd); err != nil {
				return err
			}
			continue
		}
		if hdr.OpCode == gws.OpText {
			wc.closeWith(gws.StatusUnsupportedData, "binary messages only", true)
			return ErrTextMessage
		}
		return wc.readMessage(hdr, f)
	}
}

// readMessage reads the message that hdr begins, through wc.rd, which
// follows continuation frames (and intermediate control frames) until the
// message ends within the reader's limits. The buffer grows with the bytes
// that arrive, not with the length a header declares (a peer that has sent
// messages this large before gets it at once), so a peer that declares a
// large message and sends it slowly holds about what it sent, and no longer
// than the stall timeout.
func (wc *conn) readMessage(hdr gws.Header, f *wire.Frame) error {
	wc.rb.BeginItem()
	defer wc.rb.EndItem()
	wc.msg = wc.grow(wc.msg[:0], int(min(hdr.Length, int64(max(maxFastFrame, wc.grant)))))
	for {
		if len(wc.msg) == cap(wc.msg) {
			// Double, within the limit, but always by something: the
			// reader reports a message past its limit, or its end, only
			// to a read with room.
			limit := wc.maxFrame + wire.HeaderLen
			wc.msg = wc.grow(wc.msg, max(min(2*cap(wc.msg), limit), cap(wc.msg)+1, 512))
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
	if len(wc.msg) > maxFastFrame {
		wc.grant = len(wc.msg)
	}
	return wc.decodeOne(wc.msg, f)
}

// grow returns b with room for at least n bytes, in a buffer from the pool
// when large; b's old buffer goes back.
func (wc *conn) grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := wc.pool.Get(n)[:len(b)]
	copy(nb, b)
	wc.pool.Put(b[:cap(b)])
	return nb
}

// releaseMsg hands a large message buffer back once its frame is consumed,
// so that an idle connection does not hold it.
func (wc *conn) releaseMsg() {
	if cap(wc.msg) > maxFastFrame {
		wc.pool.Put(wc.msg[:cap(wc.msg)])
		wc.msg = nil
	}
}

// fastFrame decodes the next message in place when it is the common case:
// one final, masked, binary WebSocket frame of at most maxFastFrame bytes. Its payload is unmasked in
// the buffer and decoded there, without the copy and the per-frame reader
// calls of the general path (a profile of small publishes over WebSocket
// had half of the broker's read time in them). Anything else (control
// frames, fragments, text, large or malformed frames) is left unread for
// the general path, which validates it with gobwas/ws: done is false.
// maxFastFrame bounds the messages fastFrame takes, and so the read
// buffer; larger ones go through gobwas's reader in pieces.
const maxFastFrame = 64 << 10

func (wc *conn) fastFrame(f *wire.Frame) (done bool, err error) {
	wc.rb.Shrink(0) // the last message's slices are no longer in use
	p, err := wc.rb.Peek(2)
	if err != nil {
		return true, wc.readError(err)
	}
	const (
		fin     = 0x80
		rsvOp   = 0x7f // RSV1-3 and the opcode
		masked  = 0x80
		len7    = 0x7f
		binary  = byte(gws.OpBinary)
		len16   = 126
		maskLen = 4
	)
	if p[0] != fin|binary || p[1]&masked == 0 || p[1]&len7 > len16 {
		return false, nil
	}
	hlen, plen := 2+maskLen, int(p[1]&len7)
	if plen == len16 {
		hlen += 2
		if p, err = wc.rb.Peek(4); err != nil {
			return true, wc.readError(err)
		}
		plen = int(p[2])<<8 | int(p[3])
		if plen < len16 {
			return false, nil // not minimally encoded: let gobwas judge it
		}
	}
	total := hlen + plen
	if total > maxFastFrame || plen > wc.maxFrame+wire.HeaderLen {
		return false, nil
	}
	if p, err = wc.rb.Peek(total); err != nil {
		return true, wc.readError(err)
	}
	var mask [maskLen]byte
	copy(mask[:], p[hlen-maskLen:hlen])
	msg := p[hlen:total]
	gws.Cipher(msg, mask, 0)
	wc.rb.Discard(total)
	return true, wc.decodeOne(msg, f)
}

// decodeOne decodes msg, which must be exactly one protocol frame.
func (wc *conn) decodeOne(msg []byte, f *wire.Frame) error {
	n, err := wire.Decode(msg, f, wc.maxFrame)
	switch {
	case errors.Is(err, wire.ErrShort):
		return fmt.Errorf("%w: %w", ErrNotOneFrame, adapters.ErrProtocol)
	case err != nil:
		return err
	case n != len(msg):
		return fmt.Errorf("%w: %w", ErrNotOneFrame, adapters.ErrProtocol)
	}
	return nil
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
	// The writer's deadline may be set for the batch it is about to
	// write: the control frame gets its own second, then the writer's
	// deadline is back.
	wc.dmu.Lock()
	wc.c.SetWriteDeadline(time.Now().Add(time.Second))
	wc.dmu.Unlock()
	wc.appendMessage(op, p)
	err := wc.flush()
	wc.dmu.Lock()
	wc.c.SetWriteDeadline(wc.deadline)
	wc.dmu.Unlock()
	return err
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
	wc.appendMessage(gws.OpClose, body)
	wc.flush()
}

// directFrame: frames at least this large go to the socket from the
// caller's buffer, beside the copied WebSocket headers, in one vectored
// write, instead of being copied into out first (at 16 KiB per message
// that copy, into a buffer grown anew for each batch, was most of what
// the broker did for a WebSocket subscriber beyond the system calls).
const directFrame = 4 << 10

// WriteFrames implements adapters.FrameConn: each frame in p becomes one
// binary message; all go out in one write call (a vectored one when some
// frames are large).
func (wc *conn) WriteFrames(p []byte) error {
	wc.wmu.Lock()
	defer wc.wmu.Unlock()
	if wc.closed {
		return net.ErrClosed
	}
	// Check the batch and size what is copied (headers and small frames),
	// so that out never moves while slices of it wait for the write.
	copied, direct := 0, false
	for q := p; len(q) > 0; {
		n, ok := wire.FrameLen(q)
		if !ok || n > len(q) {
			return fmt.Errorf("ws: partial frame in write batch")
		}
		copied += gws.MaxHeaderSize
		if n >= directFrame {
			direct = true
		} else {
			copied += n
		}
		q = q[n:]
	}
	if !direct {
		for len(p) > 0 {
			n, _ := wire.FrameLen(p)
			wc.appendMessage(gws.OpBinary, p[:n])
			p = p[n:]
		}
		return wc.flush()
	}
	wc.out.Grow(copied)
	bufs, mark := wc.iov[:0], wc.out.Len()
	for len(p) > 0 {
		n, _ := wire.FrameLen(p)
		if n < directFrame {
			wc.appendMessage(gws.OpBinary, p[:n])
		} else {
			gws.WriteHeaderBuffer(&wc.out, gws.Header{Fin: true, OpCode: gws.OpBinary, Length: int64(n)}, wc.hdr[:])
			b := wc.out.Bytes()
			bufs = append(bufs, b[mark:], p[:n])
			mark = len(b)
		}
		p = p[n:]
	}
	if b := wc.out.Bytes(); mark < len(b) {
		bufs = append(bufs, b[mark:])
	}
	wc.iov = bufs
	v := net.Buffers(bufs) // WriteTo consumes v, not wc.iov
	_, err := v.WriteTo(wc.c)
	clear(wc.iov) // the frames are the caller's (pooled chunks): hold none
	wc.iov = wc.iov[:0]
	return wc.done(err)
}

// TryWriteFrames implements the engine's direct write of a small frame (a
// PING to a quiet connection; CanTryWrite: plain ws:// on Linux): p, whole
// frames of at most maxTryWrite bytes in all, goes out as one binary message
// each if the socket takes it at once. It returns 0 (nothing written) when
// the socket would block, a write is under way or queued bytes wait, and
// len(p) otherwise: should the socket take only part of the messages, the
// rest is kept to go out ahead of the next write.
func (wc *conn) TryWriteFrames(p []byte) (int, error) {
	if len(p) > maxTryWrite || !wc.wmu.TryLock() {
		return 0, nil
	}
	defer wc.wmu.Unlock()
	if wc.closed || wc.out.Len() > 0 {
		return 0, nil
	}
	// A server's frames are not masked: a two-byte header for payloads
	// under 126 bytes.
	var buf [maxTryWrite + 2*maxTryFrames]byte
	b := buf[:0]
	for q := p; len(q) > 0; {
		n, ok := wire.FrameLen(q)
		if !ok || n > len(q) || n >= 126 || len(b)+2+n > len(buf) {
			return 0, nil
		}
		b = append(b, byte(0x80|gws.OpBinary), byte(n))
		b = append(b, q[:n]...)
		q = q[n:]
	}
	n, err := wc.TryWrite(b)
	switch {
	case n == 0:
		return 0, err
	case n < len(b):
		wc.out.Write(b[n:]) // flush writes it first
	}
	return len(p), nil
}

// maxTryWrite bounds what TryWriteFrames takes, maxTryFrames the frames in it.
const (
	maxTryWrite  = 64
	maxTryFrames = 8
)

// Park implements the engine's parking of a quiet connection: besides
// its read buffer (adapters.IdleSocket.Park), it lets its write buffer go;
// the next write takes one again.
func (wc *conn) Park(resume func()) bool {
	if wc.wmu.TryLock() {
		if wc.out.Len() == 0 {
			wc.out = bytes.Buffer{}
		}
		wc.wmu.Unlock()
	}
	return wc.IdleSocket.Park(resume)
}

// SetReadDeadline implements adapters.FrameConn.
func (wc *conn) SetReadDeadline(t time.Time) error { return wc.c.SetReadDeadline(t) }

// SetWriteDeadline implements adapters.FrameConn.
// It does not take wmu: it may cut short a write in progress.
func (wc *conn) SetWriteDeadline(t time.Time) error {
	wc.dmu.Lock()
	defer wc.dmu.Unlock()
	wc.deadline = t
	return wc.c.SetWriteDeadline(t)
}

// Close implements adapters.FrameConn: a normal close frame, then the
// socket.
func (wc *conn) Close() error {
	wc.Closing()
	wc.closeWith(gws.StatusNormalClosure, "", false)
	return wc.c.Close()
}
