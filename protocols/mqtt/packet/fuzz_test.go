package packet

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
)

// fuzzLevels are the levels FuzzReader reads at: 0 as a server before the
// CONNECT, or a level set beforehand as a client does.
var fuzzLevels = [...]Version{0, V311, V5}

// FuzzReader reads packets from any bytes. It must not panic; it refuses
// with an *Error or an end of stream; and every packet it returns encodes
// again to the bytes it came from, or, when those were not in the
// canonical form (properties out of identifier order, an optional reason
// code or property length present), to fewer or reordered bytes that read
// back as the same packet.
func FuzzReader(f *testing.F) {
	for i, v := range fuzzLevels[1:] {
		data, _ := stream(&testing.T{}, v)
		f.Add(byte(0), data)
		for _, p := range samples(v) {
			b, _ := p.Append(nil, v)
			f.Add(byte(i+1), b)
		}
	}
	for _, tc := range refusals() {
		f.Add(byte(slices.Index(fuzzLevels[:], tc.v)), tc.data)
	}
	f.Fuzz(func(t *testing.T, level byte, data []byte) {
		v := fuzzLevels[int(level)%len(fuzzLevels)]
		src := bytes.NewReader(data)
		r := NewReader(src, 1<<16)
		r.SetVersion(v)
		start := 0
		for {
			p, err := r.ReadPacket()
			if err != nil {
				var e *Error
				if !errors.As(err, &e) && err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("error %v (%T) is neither an *Error nor an end of stream", err, err)
				}
				return
			}
			end := len(data) - src.Len() - r.Buffered()
			raw := data[start:end]
			start = end
			checkReencode(t, p, raw, r.Version())
		}
	})
}

// checkReencode checks that p, read from raw at level v, encodes to raw or
// to its canonical form.
func checkReencode(t *testing.T, p Packet, raw []byte, v Version) {
	enc, err := p.Append(nil, v)
	if err != nil {
		t.Fatalf("%v read from %x does not encode: %v", p.Type(), raw, err)
	}
	if bytes.Equal(enc, raw) {
		return
	}
	if len(enc) > len(raw) || len(enc) == len(raw) && !sameBytes(enc, raw) {
		t.Fatalf("%v re-encoded\n%x\nfrom\n%x", p.Type(), enc, raw)
	}
	want := dump(p)
	rv := v
	if p.Type() == TypeConnect {
		rv = 0
	}
	again, err := readOne(t, enc, rv)
	if err != nil {
		t.Fatalf("%v re-encoded as %x from %x does not read: %v", p.Type(), enc, raw, err)
	}
	if got := dump(again); got != want {
		t.Fatalf("%v re-encoded as %x from %x reads\n%s\nwant\n%s", p.Type(), enc, raw, got, want)
	}
	if enc2, _ := again.Append(nil, v); !bytes.Equal(enc2, enc) {
		t.Fatalf("%v: canonical form %x re-encodes as %x", p.Type(), enc, enc2)
	}
}

// sameBytes reports whether a and b hold the same bytes in any order.
func sameBytes(a, b []byte) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return bytes.Equal(a, b)
}
