package packet

import (
	"errors"
	"fmt"
	"slices"
)

// ErrEncode is wrapped by the errors of the Append methods: the packet
// cannot be represented at the requested protocol level.
var ErrEncode = errors.New("mqtt: cannot encode packet")

// varintLen is the length of n as a variable byte integer
// (3.1.1 §2.2.3, 5.0 §1.5.5).
func varintLen(n uint32) int {
	switch {
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	case n < 1<<21:
		return 3
	}
	return 4
}

// appendVarint appends n (at most MaxRemainingLength) as a variable byte
// integer: seven bits a byte, least significant first, the high bit set on
// every byte but the last.
func appendVarint(b []byte, n uint32) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

func appendUint16(b []byte, n uint16) []byte { return append(b, byte(n>>8), byte(n)) }

func appendUint32(b []byte, n uint32) []byte {
	return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendString appends a UTF-8 string or binary data: a two-byte length,
// then the bytes. The length has been checked by a sizer.
func appendString(b, s []byte) []byte {
	return append(appendUint16(b, uint16(len(s))), s...)
}

// begin grows dst once for a whole packet of remaining length rem and
// appends its fixed header.
func begin(dst []byte, first byte, rem int) []byte {
	dst = slices.Grow(dst, 1+varintLen(uint32(rem))+rem)
	return appendVarint(append(dst, first), uint32(rem))
}

// sizer adds up the encoded size of a packet's fields and remembers the
// first field that cannot be encoded.
type sizer struct {
	n   int
	err error
}

func (s *sizer) add(n int) { s.n += n }

// str adds a UTF-8 string or binary data field.
func (s *sizer) str(b []byte, what string) {
	s.check(b, what)
	s.n += 2 + len(b)
}

// props adds the properties p of a packet of type t (or willProps) at
// level v, and returns their length for appendAt; below 5.0 there are
// none.
func (s *sizer) props(v Version, p *Properties, t Type) int {
	if v != V5 {
		return 0
	}
	return p.size(s, t)
}

// fail records an error, unless one is recorded already.
func (s *sizer) fail(reason string) {
	if s.err == nil {
		s.err = fmt.Errorf("%w: %s", ErrEncode, reason)
	}
}

// check records an error if b is too long for a string or binary field.
func (s *sizer) check(b []byte, what string) {
	if len(b) > MaxString {
		s.fail(fmt.Sprintf("%s of %d bytes, more than %d", what, len(b), MaxString))
	}
}

// done returns the remaining length added up for a packet of type t at
// level v, or why it cannot be encoded.
func (s *sizer) done(t Type, v Version) (int, error) {
	if err := checkVersion(v); err != nil {
		return 0, err
	}
	if s.err != nil {
		return 0, s.err
	}
	if s.n > MaxRemainingLength {
		return 0, fmt.Errorf("%w: %v of %d bytes, more than %d", ErrEncode, t, s.n, MaxRemainingLength)
	}
	return s.n, nil
}
