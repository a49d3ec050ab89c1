package wire

import (
	"encoding/binary"
	"io"
)

// A Reader's buffer starts at initialBuf, so that an idle connection holds
// little; it doubles, up to hotBuf, while reads keep filling it (a busy
// stream: fewer, larger reads), and goes back to initialBuf after quietReads
// reads in a row that used less than a quarter of it.
const (
	initialBuf = 1 << 10
	hotBuf     = 64 << 10
	quietReads = 16
)

// maxEmptyReads is how many (0, nil) reads in a row Reader tolerates.
const maxEmptyReads = 100

// Reader reads frames from a byte stream (a TCP connection, a QUIC stream)
// with one buffer and no copy of payloads. Each read takes as much as the
// stream has into the buffer; frames are decoded in place. Bytes are moved
// only when a frame straddles the end of the buffer. The buffer starts small
// and grows while the stream is busy (see initialBuf); it also grows, up to
// maxFrame+HeaderLen, for a frame whose declared length is within maxFrame,
// and goes back to its working size once that frame has been consumed.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r          io.Reader
	max        int
	small      []byte // the first buffer, kept for when buf shrinks back
	buf        []byte
	start, end int   // buf[start:end] is read but not yet decoded
	err        error // read error to report once buffered frames are used up
	working    int   // the buffer size the traffic asks for (initialBuf..hotBuf)
	quiet      int   // reads in a row that used less than a quarter of buf
}

// NewReader returns a Reader of frames from r whose declared body length is
// at most maxFrame (<= 0 means DefaultMaxFrame).
func NewReader(r io.Reader, maxFrame int) *Reader {
	return newReaderSize(r, maxFrame, initialBuf)
}

func newReaderSize(r io.Reader, maxFrame, size int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	b := make([]byte, size)
	return &Reader{r: r, max: maxFrame, small: b, buf: b, working: size}
}

// Buffered returns the number of bytes read from the stream but not yet
// decoded. If it is less than one whole frame, the next Next will read.
func (r *Reader) Buffered() int { return r.end - r.start }

// Next decodes the next frame into f. The slices of f alias the Reader's
// buffer and are valid until the next call to Next.
//
// It returns io.EOF when the stream ends cleanly between frames and
// io.ErrUnexpectedEOF when it ends inside a frame. A frame declaring a body
// over the limit gives ErrFrameTooLarge, before any buffer is grown for it;
// the stream cannot be resynchronized after that, and every later call
// returns the same error. A frame whose body does not decode (ErrMalformed,
// ErrUnknownType, ErrBadFlags, ErrHeader) is skipped: the error is returned
// and the next call goes on with the following frame. Other read errors are
// returned once buffered frames are used up, and the call may be retried
// (for example after a read deadline) without losing data.
// SetMaxFrame changes the largest frame body accepted from the next frame
// on (<= 0 means DefaultMaxFrame): a server reads the handshake with a small
// limit, so that an unidentified client cannot make it allocate much.
func (r *Reader) SetMaxFrame(n int) {
	if n <= 0 {
		n = DefaultMaxFrame
	}
	r.max = n
}

func (r *Reader) Next(f *Frame) error {
	r.maybeShrink()
	for {
		avail := r.buf[r.start:r.end]
		need := HeaderLen
		if len(avail) >= HeaderLen {
			n := binary.BigEndian.Uint32(avail)
			if uint64(n) > uint64(r.max) {
				return ErrFrameTooLarge
			}
			need += int(n)
			if len(avail) >= need {
				r.start += need
				if r.start == r.end {
					r.start, r.end = 0, 0
				}
				return decodeBody(Type(avail[4]), Flags(avail[5]), avail[HeaderLen:need:need], f)
			}
		}
		if r.err != nil {
			err := r.err
			r.err = nil
			if err == io.EOF && len(avail) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		r.makeRoom(need)
		r.fill()
	}
}

// makeRoom makes sure the buffer can hold need bytes from r.start, moving the
// pending bytes to the front or into a larger buffer if it cannot.
func (r *Reader) makeRoom(need int) {
	if r.start+need <= len(r.buf) {
		return
	}
	pending := r.end - r.start
	if need > len(r.buf) || r.working > len(r.buf) {
		size := min(max(need, 2*len(r.buf), r.working), max(HeaderLen+r.max, r.working))
		nb := make([]byte, size)
		copy(nb, r.buf[r.start:r.end])
		r.buf = nb
	} else {
		copy(r.buf, r.buf[r.start:r.end])
	}
	r.start, r.end = 0, pending
}

// fill reads once into the free end of the buffer (which has room).
func (r *Reader) fill() {
	for range maxEmptyReads {
		n, err := r.r.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			r.err = io.ErrShortBuffer // a broken io.Reader
			return
		}
		r.end += n
		switch {
		case r.end == len(r.buf):
			// The stream had more than we had room for: read bigger.
			r.working = min(max(r.working, 2*len(r.buf)), hotBuf)
			r.quiet = 0
		case n < len(r.buf)/4:
			if r.quiet++; r.quiet >= quietReads {
				r.working, r.quiet = len(r.small), 0
			}
		default:
			r.quiet = 0
		}
		if err != nil {
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}

// maybeShrink goes back to the small buffer when the traffic has gone
// quiet (or a large frame is consumed) and the pending bytes, and the frame
// they start, fit in it.
func (r *Reader) maybeShrink() {
	if len(r.buf) <= len(r.small) || len(r.buf) <= r.working {
		return
	}
	pending := r.buf[r.start:r.end]
	if len(pending) > len(r.small) {
		return
	}
	if len(pending) >= HeaderLen && uint64(HeaderLen)+uint64(binary.BigEndian.Uint32(pending)) > uint64(len(r.small)) {
		return
	}
	copy(r.small, pending)
	r.buf = r.small
	r.start, r.end = 0, len(pending)
}
