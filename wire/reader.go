package wire

import (
	"encoding/binary"
	"io"
	"time"
)

// Reader reads frames from a byte stream (a TCP connection, a QUIC stream)
// with one buffer and no copy of payloads. Each read takes as much as the
// stream has into the buffer; frames are decoded in place. Bytes are moved
// only when a frame straddles the end of the buffer. The buffer starts small
// and grows while the stream is busy (see initialBuf); it also grows, up to
// maxFrame+HeaderLen, for a frame whose declared length is within maxFrame,
// as the frame's bytes arrive (at once for a stream that has sent frames that
// large before), and goes back to its working size once that frame has been
// consumed (to a Pool, if it has one: SetPool).
//
// A Reader is not safe for concurrent use.
type Reader struct {
	b   Buffer
	max int

	// Owned payloads (SetOwnedPayloads): MSG payloads of at least ownMin
	// bytes go into buffers from alloc; prefix holds the frame's header
	// and the fields before the payload meanwhile. broken is a read error
	// inside such a payload, returned from then on.
	ownMin int
	alloc  func(n int) []byte
	prefix []byte
	broken error
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
	return &Reader{b: *newBufferSize(r, HeaderLen+maxFrame, size), max: maxFrame}
}

// Buffered returns the number of bytes read from the stream but not yet
// decoded. If it is less than one whole frame, the next Next will read.
func (r *Reader) Buffered() int { return r.b.Buffered() }

// SetMaxFrame changes the largest frame body accepted from the next frame
// on (<= 0 means DefaultMaxFrame): a server reads the handshake with a small
// limit, so that an unidentified client cannot make it allocate much.
func (r *Reader) SetMaxFrame(n int) {
	if n <= 0 {
		n = DefaultMaxFrame
	}
	r.max = n
	r.b.SetLimit(HeaderLen + n)
}

// SetPool makes the Reader take buffers for large frames from p and give
// them back as soon as they are consumed (see Buffer.SetPool), so that a
// stream of large frames allocates nothing in the steady state and an idle
// connection does not hold a large buffer.
func (r *Reader) SetPool(p *Pool) { r.b.SetPool(p) }

// Release gives a large buffer back to the pool (see Buffer.Release); the
// Reader must not be used for reading after it.
func (r *Reader) Release() { r.b.Release() }

// Idle gives the read buffers back while nothing is buffered, before the
// caller waits for the stream to become readable (see Buffer.Idle).
func (r *Reader) Idle() { r.b.Idle() }

// FillFrom reads once with read instead of the stream (see
// Buffer.FillFrom).
func (r *Reader) FillFrom(read func(p []byte) (int, error)) (int, error) { return r.b.FillFrom(read) }

// SetStallTimeout bounds how long a frame that has begun to arrive may take
// to complete (see Buffer.SetStallTimeout); Next then fails with ErrStalled.
func (r *Reader) SetStallTimeout(d time.Duration, setDeadline func(time.Time) error) {
	r.b.SetStallTimeout(d, setDeadline)
}

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
func (r *Reader) Next(f *Frame) error {
	if r.broken != nil {
		return r.broken
	}
	b := &r.b
	if len(b.buf) > len(b.small) && len(b.buf) > b.working {
		b.Shrink(r.pendingFrameLen())
	}
	// The common case, a whole frame already buffered, without a call.
	if avail := b.buf[b.start:b.end]; len(avail) >= HeaderLen {
		n := binary.BigEndian.Uint32(avail)
		if uint64(n) > uint64(r.max) {
			return ErrFrameTooLarge
		}
		if need := HeaderLen + int(n); len(avail) >= need && (r.alloc == nil || int(n) < r.ownMin || Type(avail[4]) != TypeMsg) {
			b.Discard(need)
			return decodeBody(Type(avail[4]), Flags(avail[5]), avail[HeaderLen:need:need], f)
		}
	}
	p, err := b.Peek(HeaderLen)
	if err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(r.max) {
		return ErrFrameTooLarge
	}
	if r.alloc != nil && int(n) >= r.ownMin && Type(p[4]) == TypeMsg {
		if handled, err := r.nextOwned(f, Flags(p[5]), int(n)); handled {
			return err
		}
	}
	need := HeaderLen + int(n)
	if p, err = b.Peek(need); err != nil {
		return err
	}
	if need > hotBuf {
		// The stream sends frames this large: the next one may have its
		// buffer at once, without growing with its bytes.
		b.grant = need
	}
	b.Discard(need)
	return decodeBody(Type(p[4]), Flags(p[5]), p[HeaderLen:need:need], f)
}

// pendingFrameLen returns the whole length of the frame the buffered bytes
// begin, if its header is buffered (and within the limit), else 0.
func (r *Reader) pendingFrameLen() int {
	p := r.b.buf[r.b.start:r.b.end]
	if len(p) < HeaderLen {
		return 0
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(r.max) {
		return 0
	}
	return HeaderLen + int(n)
}
