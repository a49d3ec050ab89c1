package wire

import (
	"errors"
	"io"
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
			return b.src.Read(p)
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

// makeRoom makes sure the buffer can hold need bytes from b.start, moving
// the pending bytes to the front or into a larger buffer if it cannot.
func (b *Buffer) makeRoom(need int) {
	if b.start+need <= len(b.buf) {
		return
	}
	pending := b.end - b.start
	if need > len(b.buf) || b.working > len(b.buf) {
		size := min(max(need, 2*len(b.buf), b.working), max(b.limit, b.working))
		nb := make([]byte, size)
		copy(nb, b.buf[b.start:b.end])
		b.buf = nb
	} else {
		copy(b.buf, b.buf[b.start:b.end])
	}
	b.start, b.end = 0, pending
}

// fill reads once into the free end of the buffer (which has room).
func (b *Buffer) fill() {
	for range maxEmptyReads {
		n, err := b.src.Read(b.buf[b.end:])
		if n < 0 || n > len(b.buf)-b.end {
			b.err = io.ErrShortBuffer // a broken io.Reader
			return
		}
		b.end += n
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
		if err != nil {
			b.err = err
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
	b.buf = b.small
	b.start, b.end = 0, pending
}
