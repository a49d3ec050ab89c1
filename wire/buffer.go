package wire

import (
	"errors"
	"io"
	"net"
	"time"
)

// A Buffer starts at initialBuf, so that an idle connection holds little;
// its working size doubles, up to hotBuf, while reads keep filling it (a
// busy stream: fewer, larger reads), and goes back to initialBuf after
// quietReads reads in a row that used less than a quarter of it.
const (
	initialBuf = 1 << 10
	hotBuf     = 64 << 10
	quietReads = 16
)

// maxEmptyReads is how many (0, nil) reads in a row a Buffer tolerates.
const maxEmptyReads = 100

// ErrPeekTooLarge is returned by Buffer.Peek for more bytes than the
// buffer may hold.
var ErrPeekTooLarge = errors.New("wire: peek larger than the buffer's limit")

// ErrStalled is returned when an item that has begun to arrive is not
// complete within the stall timeout (SetStallTimeout).
var ErrStalled = errors.New("wire: a frame that had begun to arrive was not completed in time")

// Buffer is a buffered reader of a byte stream (a TCP connection, a QUIC
// stream, a WebSocket connection) whose buffer follows the traffic: small
// while the stream is quiet, larger while it is busy, and as large as an
// item being peeked whole, up to a limit. Items are decoded in place from
// Peek's slices; bytes move only when an item straddles the end of the
// buffer. Reader decodes protocol frames with one; the WebSocket adapter
// decodes WebSocket messages with another.
//
// A Buffer is not safe for concurrent use.
type Buffer struct {
	src        io.Reader
	limit      int    // the largest buffer for a peek (the working size may be larger)
	small      []byte // the first buffer, kept for when buf shrinks back
	buf        []byte
	start, end int   // buf[start:end] is read but not consumed
	err        error // read error to report once the buffered bytes are used
	working    int   // the buffer size the traffic asks for (initialBuf..hotBuf)
	quiet      int   // reads in a row that used less than a quarter of buf

	pool     *Pool   // where buffers over hotBuf come from and go back to (nil: allocate)
	box      *[]byte // what buf came out of the pool in, for its return
	grant    int     // a peek may grow the buffer to this at once: a size the stream has sent whole
	consumed uint64  // bytes discarded so far, which tells one pending item from the next

	// The stall timeout (SetStallTimeout): a read deadline armed when an
	// item has begun to arrive, renewed when a new item begins.
	stall       time.Duration
	setDeadline func(time.Time) error
	armed       bool
	armedAt     uint64 // consumed when the deadline was armed
	inItem      bool   // BeginItem: an item is being taken with Read
}

// NewBuffer returns a Buffer reading from src that grows, for a peek, to
// at most limit bytes (or its working size, if larger).
func NewBuffer(src io.Reader, limit int) *Buffer {
	return newBufferSize(src, limit, initialBuf)
}

func newBufferSize(src io.Reader, limit, size int) *Buffer {
	b := make([]byte, size)
	return &Buffer{src: src, limit: limit, small: b, buf: b, working: size}
}

// SetLimit changes the largest buffer a peek may grow.
func (b *Buffer) SetLimit(n int) { b.limit = n }

// SetPool makes the buffer take its large buffers (over 64 KiB) from p and
// hand them back as soon as it can shrink, instead of allocating each one.
// The slices a Peek returned must not be used after the next call of any
// method: by then their memory may belong to another Buffer.
func (b *Buffer) SetPool(p *Pool) { b.pool = p }

// SetStallTimeout bounds how long an item that has begun to arrive may take
// to complete: when some of its bytes are buffered and a read must wait for
// the rest, setDeadline (the source's SetReadDeadline) is armed d ahead,
// once per item; between items it is cleared. A read that times out while
// armed fails with ErrStalled. d <= 0 turns it off (the deadline is left
// as it was). A slow sender cannot hold a half-received item, and the
// buffer it grew, for longer than d.
func (b *Buffer) SetStallTimeout(d time.Duration, setDeadline func(time.Time) error) {
	if b.armed && b.setDeadline != nil {
		b.setDeadline(time.Time{})
	}
	b.stall, b.setDeadline, b.armed = d, setDeadline, false
}

// Buffered returns the number of bytes read but not consumed.
func (b *Buffer) Buffered() int { return b.end - b.start }

// Peek returns the next n bytes without consuming them, reading (and
// growing the buffer) as needed; the slice is valid until the next call of
// any method. With fewer than n bytes available it returns the read error,
// and the call may be retried (after a read deadline, say) without losing
// data: io.ErrUnexpectedEOF if the stream ended after some bytes, io.EOF
// if before any.
func (b *Buffer) Peek(n int) ([]byte, error) {
	if n > max(b.limit, b.working) {
		return nil, ErrPeekTooLarge
	}
	for b.end-b.start < n {
		if err := b.takeErr(); err != nil {
			return nil, err
		}
		b.makeRoom(n)
		b.fill()
	}
	return b.buf[b.start : b.start+n], nil
}

// Discard consumes n buffered bytes (n <= Buffered()).
func (b *Buffer) Discard(n int) {
	b.consumed += uint64(n)
	b.start += n
	if b.start == b.end {
		b.start, b.end = 0, 0
	}
}

// Read implements io.Reader over the buffer.
func (b *Buffer) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.start == b.end {
		if err := b.takeErr(); err != nil {
			return 0, err
		}
		b.Shrink(0)
		if len(p) >= b.working {
			// A large read goes straight into p.
			if b.stall > 0 {
				b.armStall()
			}
			n, err := b.src.Read(p)
			return n, b.stalled(err)
		}
		b.makeRoom(b.working)
		b.fill()
		if b.start == b.end {
			return 0, b.takeErr()
		}
	}
	n := copy(p, b.buf[b.start:b.end])
	b.Discard(n)
	return n, nil
}

// takeErr returns the pending read error once, as io.ErrUnexpectedEOF for
// an end of stream in the middle of buffered bytes.
func (b *Buffer) takeErr() error {
	err := b.err
	b.err = nil
	if err == io.EOF && b.end > b.start {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// makeRoom makes sure the buffer can hold need bytes from b.start, or
// failing that has room to read more toward them, moving the pending bytes
// to the front or into a larger buffer.
func (b *Buffer) makeRoom(need int) {
	if b.small == nil {
		// Idle gave the small buffer back: the stream has bytes again.
		b.small = b.pool.getSmall()
		b.buf = b.small
	}
	if b.start+need <= len(b.buf) {
		return
	}
	pending := b.end - b.start
	size := max(len(b.buf), b.working)
	if need > size {
		// Grow with the bytes that have arrived, not with the length a
		// header declares: a client that declares a large item and sends
		// it slowly, or never, holds about twice what it sent. A stream
		// that has sent items this large before (grant) gets it at once.
		size = min(need, max(size, 2*pending, b.grant))
	}
	size = min(size, max(b.limit, b.working))
	if size > len(b.buf) {
		nb, box := b.pool.get(size)
		copy(nb, b.buf[b.start:b.end])
		b.release()
		b.buf, b.box = nb, box
	} else {
		copy(b.buf, b.buf[b.start:b.end])
	}
	b.start, b.end = 0, pending
}

// Release gives a large buffer back to the pool and goes back to the
// small one, dropping whatever is buffered: for when the stream is done
// (the connection closed), so that its buffer does not wait for the
// garbage collector while counted as lent.
func (b *Buffer) Release() {
	b.release()
	b.buf, b.start, b.end = b.small, 0, 0
}

// Idle tells the buffer that the stream is between items and that the
// caller is about to wait for the next one without reading (see
// adapters' idle wait): with nothing buffered, it clears the stall
// deadline and, unless the stream is busy (its working size has grown),
// gives every buffer back, the small one included if it has a Pool, so
// that a connection waiting for its quiet peer holds no read buffer. The
// next read takes a small buffer from the Pool again. A busy stream keeps
// its working buffer: dropping it at every pause would allocate it again
// at every burst. It does nothing while bytes are buffered.
func (b *Buffer) Idle() {
	if b.end > b.start {
		return
	}
	if b.armed && b.setDeadline != nil {
		b.armed = false
		b.setDeadline(time.Time{})
	}
	b.start, b.end = 0, 0
	if b.working > len(b.small) && len(b.small) > 0 {
		return
	}
	b.release()
	b.buf = b.small
	if b.pool != nil && len(b.small) == initialBuf {
		b.pool.putSmall(b.small)
		b.small, b.buf = nil, nil
	}
}

// release hands a large buffer back to the pool as b stops using it.
func (b *Buffer) release() {
	if len(b.buf) > hotBuf {
		b.pool.put(b.buf, b.box)
	}
	b.box = nil
}

// BeginItem tells the buffer that an item has begun whose bytes the caller
// takes with Read (a WebSocket message read through another reader): the
// stall timeout covers it, from its next read on, until EndItem.
func (b *Buffer) BeginItem() {
	b.inItem = true
	b.armed = false // a new item: a new deadline
}

// EndItem ends what BeginItem began.
func (b *Buffer) EndItem() { b.inItem = false }

// armStall arms or clears the stall deadline before a read.
func (b *Buffer) armStall() {
	switch {
	case b.inItem && !b.armed:
		b.armed, b.armedAt = true, b.consumed
		b.setDeadline(time.Now().Add(b.stall))
	case b.inItem:
	case b.end > b.start && (!b.armed || b.armedAt != b.consumed):
		// An item has begun and not yet had its deadline.
		b.armed, b.armedAt = true, b.consumed
		b.setDeadline(time.Now().Add(b.stall))
	case b.end == b.start && b.armed:
		b.armed = false
		b.setDeadline(time.Time{})
	}
}

// stalled turns a read's timeout while the stall deadline is armed into
// ErrStalled.
func (b *Buffer) stalled(err error) error {
	var ne net.Error
	if err != nil && b.armed && errors.As(err, &ne) && ne.Timeout() {
		return ErrStalled
	}
	return err
}

// adapt follows the traffic after a read of n bytes that ended at b.end.
func (b *Buffer) adapt(n int) {
	switch {
	case b.end == len(b.buf):
		// The stream had more than we had room for: read bigger.
		b.working = min(max(b.working, 2*len(b.buf)), hotBuf)
		b.quiet = 0
	case n < len(b.buf)/4:
		if b.quiet++; b.quiet >= quietReads {
			b.working, b.quiet = len(b.small), 0
		}
	default:
		b.quiet = 0
	}
}

// ErrWouldBlock is what a read function given to FillFrom returns when
// the stream has nothing yet.
var ErrWouldBlock = errors.New("wire: nothing to read yet")

// FillFrom reads once with read instead of the source, into the free end
// of the buffer (taking a buffer if Idle gave it back), as a read of the
// source would: for a caller that reads the socket itself once it is
// readable (adapters' idle wait). If read returns ErrWouldBlock, nothing
// changes and FillFrom returns it; any other error is kept, like a
// source's, for the next Peek or Read to return once the buffered bytes
// are used. While an error is kept it reads nothing and returns (0, nil):
// the caller's next Peek or Read will see it.
func (b *Buffer) FillFrom(read func(p []byte) (int, error)) (int, error) {
	if b.err != nil {
		return 0, nil
	}
	b.makeRoom(b.working)
	n, err := read(b.buf[b.end:])
	if err == ErrWouldBlock {
		return 0, err
	}
	if n < 0 || n > len(b.buf)-b.end {
		n, err = 0, io.ErrShortBuffer // a broken read function
	}
	b.end += n
	b.adapt(n)
	if err != nil {
		b.err = err
	}
	return n, err
}

// fill reads once into the free end of the buffer (which has room).
func (b *Buffer) fill() {
	if b.stall > 0 {
		b.armStall()
	}
	for range maxEmptyReads {
		n, err := b.src.Read(b.buf[b.end:])
		if n < 0 || n > len(b.buf)-b.end {
			b.err = io.ErrShortBuffer // a broken io.Reader
			return
		}
		b.end += n
		b.adapt(n)
		if err != nil {
			b.err = b.stalled(err)
			return
		}
		if n > 0 {
			return
		}
	}
	b.err = io.ErrNoProgress
}

// Shrink goes back to the small buffer when the traffic has gone quiet (or
// a large item is consumed) and the pending bytes fit in it, as well as
// next, the size of the item they begin if the caller knows it.
func (b *Buffer) Shrink(next int) {
	if len(b.buf) <= len(b.small) || len(b.buf) <= b.working {
		return
	}
	pending := b.end - b.start
	if pending > len(b.small) || next > len(b.small) {
		return
	}
	copy(b.small, b.buf[b.start:b.end])
	b.release()
	b.buf = b.small
	b.start, b.end = 0, pending
}
