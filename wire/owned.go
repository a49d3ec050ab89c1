package wire

import (
	"encoding/binary"
	"io"
)

// SetOwnedPayloads makes Next hand over the payload of every MSG frame of
// at least min payload bytes in a buffer of its own from alloc(n), which
// the caller then owns (the Reader keeps no reference to it): the bytes of
// the payload already buffered are copied into it, and the rest is read
// from the stream straight into it, without growing the read buffer for
// the frame and without a second copy. A client that keeps each message's
// payload (the SDK) so does with one allocation and one copy what would
// otherwise take a read buffer as large as the frame, a copy out of it,
// and moving the unread part of the next frame. min <= 0 or a nil alloc
// turns it off. Other frames, and smaller MSG frames, are decoded in place
// as before.
//
// A read error in the middle of such a payload is final: every later call
// of Next returns it (the stream's position is lost).
func (r *Reader) SetOwnedPayloads(min int, alloc func(n int) []byte) {
	if min <= 0 || alloc == nil {
		r.ownMin, r.alloc = 0, nil
		return
	}
	r.ownMin, r.alloc = min, alloc
}

// msgPrefixLen returns the length of what precedes the payload in a MSG
// body of these flags: sid, topic, reply, ttl, header block. With too few
// bytes of p to tell, it returns at least len(p)+1, the bytes to look at
// next, and false.
func msgPrefixLen(p []byte, fl Flags) (int, bool) {
	off := 4 // sid
	s16 := func() bool {
		if len(p) < off+2 {
			off += 2
			return false
		}
		off += 2 + int(binary.BigEndian.Uint16(p[off:]))
		return true
	}
	if !s16() { // topic
		return off, false
	}
	if fl.Has(FlagReply) && !s16() {
		return off, false
	}
	if fl.Has(FlagMsgTTL) {
		off += 4
	}
	if fl.Has(FlagHeader) {
		if len(p) < off+4 {
			return off + 4, false
		}
		off += 4 + int(binary.BigEndian.Uint32(p[off:]))
	}
	return off, off <= len(p)
}

// nextOwned is Next for a MSG frame of body length n whose header is
// buffered, when owned payloads are on (SetOwnedPayloads). handled is
// false when the frame is not one to hand over (its payload is under the
// minimum, or its prefix is malformed): Next then goes on as usual.
func (r *Reader) nextOwned(f *Frame, fl Flags, n int) (handled bool, err error) {
	b := &r.b
	pre, ok := 6, false // sid and the topic's length first
	for !ok {
		if pre > n {
			return false, nil // malformed: Next's decoding says why
		}
		p, err := b.Peek(HeaderLen + pre)
		if err != nil {
			return true, err
		}
		pre, ok = msgPrefixLen(p[HeaderLen:], fl)
	}
	if pre > n || n-pre < r.ownMin {
		return false, nil
	}
	p, _ := b.Peek(HeaderLen + pre)
	r.prefix = append(r.prefix[:0], p...)
	b.Discard(HeaderLen + pre)
	payload := r.alloc(n - pre)[: n-pre : n-pre]
	// Buffered bytes first, then reads straight into payload (Buffer.Read
	// reads into the caller's slice once the buffer is empty, for a
	// slice at least as large as its working size).
	if _, err := io.ReadFull(&r.b, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		r.broken = err
		return true, err
	}
	if err := decodeBody(TypeMsg, fl, r.prefix[HeaderLen:], f); err != nil {
		return true, err
	}
	f.Payload = payload
	return true, nil
}
