package ws

import "io"

// A connection's read buffer starts at minReadBuf, so that an idle
// connection holds little; it doubles, up to maxReadBuf, while reads keep
// filling it, and goes back to minReadBuf after quietReads reads in a row
// that used less than a quarter of it. A message larger than the working
// size grows the buffer to hold it whole (up to the frame limit) until it
// is consumed.
const (
	minReadBuf = 1 << 10
	maxReadBuf = 64 << 10
	quietReads = 16
)

// readBuf is a buffered reader whose buffer follows the traffic, with
// Peek and Discard for decoding messages in place (fastFrame) and Read for
// gobwas's reader (the general path). Not safe for concurrent use.
type readBuf struct {
	src     io.Reader
	small   []byte // the first buffer, kept for when buf shrinks back
	buf     []byte
	r, w    int   // buf[r:w] is read but not consumed
	err     error // read error to report once the buffered bytes are used
	working int   // the size the traffic asks for (minReadBuf..maxReadBuf)
	quiet   int   // reads in a row that used less than a quarter of buf
}

func newReadBuf(src io.Reader) *readBuf {
	b := make([]byte, minReadBuf)
	return &readBuf{src: src, small: b, buf: b, working: minReadBuf}
}

// Buffered returns how many bytes are read but not consumed.
func (b *readBuf) Buffered() int { return b.w - b.r }

// Peek returns the next n bytes without consuming them, reading (and
// growing the buffer) as needed. With fewer than n bytes available it
// returns the read error: io.ErrUnexpectedEOF if the stream ended after
// some of them, io.EOF if before any. The slice is valid until the next
// call of any method.
func (b *readBuf) Peek(n int) ([]byte, error) {
	b.maybeShrink()
	for b.w-b.r < n {
		if b.err != nil {
			err := b.err
			b.err = nil
			if err == io.EOF && b.w > b.r {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		b.makeRoom(n)
		b.fill()
	}
	return b.buf[b.r : b.r+n], nil
}

// Discard consumes n buffered bytes (n <= Buffered()).
func (b *readBuf) Discard(n int) {
	b.r += n
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
}

// Read implements io.Reader over the buffer.
func (b *readBuf) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if b.err != nil {
			err := b.err
			b.err = nil
			return 0, err
		}
		b.maybeShrink()
		if len(p) >= b.working {
			// A large read (a big message on the general path) goes
			// straight into p rather than through the buffer.
			return b.src.Read(p)
		}
		b.makeRoom(b.working)
		b.fill()
		if b.r == b.w {
			err := b.err
			b.err = nil
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.Discard(n)
	return n, nil
}

// makeRoom makes sure the buffer can hold n bytes from b.r, moving the
// pending bytes to the front or into a larger buffer.
func (b *readBuf) makeRoom(n int) {
	if b.r+n <= len(b.buf) {
		return
	}
	pending := b.w - b.r
	if n > len(b.buf) || b.working > len(b.buf) {
		nb := make([]byte, max(n, b.working))
		copy(nb, b.buf[b.r:b.w])
		b.buf = nb
	} else {
		copy(b.buf, b.buf[b.r:b.w])
	}
	b.r, b.w = 0, pending
}

// fill reads once into the free end of the buffer (which has room).
func (b *readBuf) fill() {
	if b.w == len(b.buf) {
		b.makeRoom(b.w - b.r + 1)
	}
	for range 100 {
		n, err := b.src.Read(b.buf[b.w:])
		if n < 0 || n > len(b.buf)-b.w {
			b.err = io.ErrShortBuffer // a broken io.Reader
			return
		}
		b.w += n
		switch {
		case b.w == len(b.buf):
			// The stream had more than we had room for: read bigger.
			b.working = min(max(b.working, 2*len(b.buf)), maxReadBuf)
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

// maybeShrink goes back to the small buffer once the traffic has gone
// quiet (or a large message is consumed) and what is pending fits in it.
func (b *readBuf) maybeShrink() {
	if len(b.buf) <= len(b.small) || len(b.buf) <= b.working || b.w-b.r > len(b.small) {
		return
	}
	pending := copy(b.small, b.buf[b.r:b.w])
	b.buf = b.small
	b.r, b.w = 0, pending
}
