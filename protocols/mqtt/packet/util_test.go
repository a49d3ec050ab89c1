package packet

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// hexBytes parses hex digits, ignoring spaces and anything after a '#' on
// each line, so vectors can carry comments.
func hexBytes(tb testing.TB, s string) []byte {
	tb.Helper()
	var digits strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// str is a string or binary field: two-byte length and bytes.
func str(s string) []byte {
	return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)
}

// cat concatenates byte slices and single bytes.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case []byte:
			b = append(b, p...)
		case byte:
			b = append(b, p)
		case int:
			b = append(b, byte(p))
		case string:
			b = append(b, p...)
		default:
			panic(fmt.Sprintf("cat: %T", p))
		}
	}
	return b
}

// pkt builds a packet from its first byte and body, with the remaining
// length in between.
func pkt(first byte, body ...any) []byte {
	b := cat(body...)
	return append(appendVarint([]byte{first}, uint32(len(b))), b...)
}

// readAll reads one packet from b at level v (0: as a server before
// CONNECT) and checks that nothing is left over.
func readOne(tb testing.TB, b []byte, v Version) (Packet, error) {
	tb.Helper()
	r := NewReader(bytes.NewReader(b), 0)
	r.SetVersion(v)
	p, err := r.ReadPacket()
	if err == nil && r.Buffered() != 0 {
		tb.Fatalf("%d bytes left after %v", r.Buffered(), p.Type())
	}
	return p, err
}

// mustAppend encodes p at level v.
func mustAppend(tb testing.TB, p Packet, v Version) []byte {
	tb.Helper()
	b, err := p.Append(nil, v)
	if err != nil {
		tb.Fatalf("%v at %v: %v", p.Type(), v, err)
	}
	if n, err := Size(p, v); err != nil || n != len(b) {
		tb.Fatalf("%v at %v: Size %d, %v; encoded %d bytes", p.Type(), v, n, err, len(b))
	}
	return b
}

// dump prints a packet's fields, nil and empty slices alike, a will by
// value.
func dump(p Packet) string {
	if c, ok := p.(*Connect); ok {
		cc := *c
		w := cc.Will
		cc.Will = nil
		if w != nil {
			return fmt.Sprintf("%+v will %+v", cc, *w)
		}
		return fmt.Sprintf("%+v", cc)
	}
	return fmt.Sprintf("%+v", p)
}
