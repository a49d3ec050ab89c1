package wire

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unicode/utf8"
)

// A header block holds message headers: u16 count, then count pairs of
// (s16 key, s16 value). A key with several values is sent as several pairs.
// Keys are non-empty. In a frame the block is preceded by its u32 byte length.

// checkHeader validates a header block structurally without allocating.
func checkHeader(b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: %d bytes, no pair count", ErrHeader, len(b))
	}
	count := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	// Headers are ASCII in the common case: one pass over the block then
	// spares the check of each string.
	ascii := isASCII(b)
	for i := range count {
		for j := range 2 {
			if len(b) < 2 {
				return fmt.Errorf("%w: pair %d of %d: block ends inside a length", ErrHeader, i, count)
			}
			n := int(binary.BigEndian.Uint16(b))
			if len(b)-2 < n {
				return fmt.Errorf("%w: pair %d of %d: %d bytes declared, %d left", ErrHeader, i, count, n, len(b)-2)
			}
			if j == 0 && n == 0 {
				return fmt.Errorf("%w: pair %d of %d: empty key", ErrHeader, i, count)
			}
			if !ascii && !utf8.Valid(b[2:2+n]) {
				return fmt.Errorf("%w: pair %d of %d: %s is not valid UTF-8", ErrHeader, i, count, [2]string{"key", "value"}[j])
			}
			b = b[2+n:]
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes after %d pairs", ErrHeader, len(b), count)
	}
	return nil
}

// isASCII reports whether every byte of b is below 0x80, eight at a time.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// CheckHeader reports whether h can be encoded by AppendHeader: keys
// non-empty, keys and values valid UTF-8 of at most MaxString bytes, at
// most 65535 pairs (one per value). It returns an error wrapping ErrHeader
// if not. UTF-8 is required because headers are text to every client and
// to the plugin contract (protobuf strings), and a receiver must not have
// to guess an encoding; the decoder refuses the same blocks.
func CheckHeader(h map[string][]string) error {
	pairs := 0
	for k, vs := range h {
		if k == "" {
			return fmt.Errorf("%w: empty key", ErrHeader)
		}
		if len(k) > MaxString {
			return fmt.Errorf("%w: key of %d bytes", ErrHeader, len(k))
		}
		if !utf8.ValidString(k) {
			return fmt.Errorf("%w: key %.64q is not valid UTF-8", ErrHeader, k)
		}
		for _, v := range vs {
			if len(v) > MaxString {
				return fmt.Errorf("%w: value of %d bytes for key %.64q", ErrHeader, len(v), k)
			}
			if !utf8.ValidString(v) {
				return fmt.Errorf("%w: value for key %.64q is not valid UTF-8", ErrHeader, k)
			}
		}
		pairs += len(vs)
	}
	if pairs > MaxString {
		return fmt.Errorf("%w: %d pairs", ErrHeader, pairs)
	}
	return nil
}

// AppendHeader appends the header block for h (without the u32 length that
// precedes it in a frame): u16 count, then one (key, value) pair per value,
// keys in sorted order and each key's values in their order, so the encoding
// of a map is deterministic. A key with no values is left out. An empty map
// gives a block of count 0 (2 bytes); pass a nil header to AppendPub for none.
//
// h must pass CheckHeader; AppendHeader panics otherwise.
func AppendHeader(dst []byte, h map[string][]string) []byte {
	if err := CheckHeader(h); err != nil {
		panic(err.Error())
	}
	keys := make([]string, 0, len(h))
	size, pairs := 2, 0
	for k, vs := range h {
		keys = append(keys, k)
		for _, v := range vs {
			size += 4 + len(k) + len(v)
		}
		pairs += len(vs)
	}
	slices.Sort(keys)
	dst = slices.Grow(dst, size)
	dst = binary.BigEndian.AppendUint16(dst, uint16(pairs))
	for _, k := range keys {
		for _, v := range h[k] {
			dst = appendS16(dst, k)
			dst = appendS16(dst, v)
		}
	}
	return dst
}

// ParseHeader decodes a header block (without its u32 length). It returns an
// error wrapping ErrHeader for a malformed block, and nil for a block of count 0.
// The strings are copies: the result does not alias b.
func ParseHeader(b []byte) (map[string][]string, error) {
	if err := checkHeader(b); err != nil {
		return nil, err
	}
	count := int(binary.BigEndian.Uint16(b))
	if count == 0 {
		return nil, nil
	}
	h := make(map[string][]string, count) // count is checked: every pair is present
	b = b[2:]
	for range count {
		kn := int(binary.BigEndian.Uint16(b))
		k := b[2 : 2+kn]
		b = b[2+kn:]
		vn := int(binary.BigEndian.Uint16(b))
		v := string(b[2 : 2+vn])
		b = b[2+vn:]
		h[string(k)] = append(h[string(k)], v)
	}
	return h, nil
}
