package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

type vector struct {
	name string
	line string // the line as written in testdata/vectors.txt
	data []byte
}

// loadVectors reads testdata/vectors.txt.
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	raw, err := os.ReadFile("testdata/vectors.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, h, ok := strings.Cut(line, ": ")
		if !ok {
			tb.Fatalf("vector line without \": \": %q", line)
		}
		data, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		if err != nil {
			tb.Fatalf("vector %s: %v", name, err)
		}
		vs = append(vs, vector{name: name, line: line, data: data})
	}
	if len(vs) == 0 {
		tb.Fatal("no vectors")
	}
	return vs
}

// frame builds the bytes of a frame with a correct length from body parts.
func frame(t Type, fl Flags, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	out := []byte{0, 0, 0, 0, byte(t), byte(fl)}
	n := len(body)
	out[0], out[1], out[2], out[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return append(out, body...)
}

func be16(v uint16) []byte  { return []byte{byte(v >> 8), byte(v)} }
func be32(v uint32) []byte  { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
func be64(v uint64) []byte  { return append(be32(uint32(v>>32)), be32(uint32(v))...) }
func str16(s string) []byte { return append(be16(uint16(len(s))), s...) }

// sameFrame reports whether two frames have equal fields (nil and empty
// slices count as equal).
func sameFrame(a, b *Frame) bool {
	return a.Type == b.Type && a.Flags == b.Flags && a.SID == b.SID && a.Max == b.Max &&
		a.AckID == b.AckID && a.Code == b.Code && a.TTL == b.TTL &&
		bytes.Equal(a.Topic, b.Topic) && bytes.Equal(a.Reply, b.Reply) &&
		bytes.Equal(a.Queue, b.Queue) && bytes.Equal(a.Header, b.Header) &&
		bytes.Equal(a.Payload, b.Payload) && bytes.Equal(a.Text, b.Text) &&
		sameHello(&a.Hello, &b.Hello) && a.Welcome == b.Welcome
}

func sameHello(a, b *Hello) bool {
	wa, wb := a.Will, b.Will
	x, y := *a, *b
	x.Will, y.Will = nil, nil
	if x != y || (wa == nil) != (wb == nil) {
		return false
	}
	return wa == nil || (wa.Topic == wb.Topic && wa.Retain == wb.Retain && wa.DelayMS == wb.DelayMS &&
		wa.TTL == wb.TTL && bytes.Equal(wa.Header, wb.Header) && bytes.Equal(wa.Payload, wb.Payload))
}

// decodeAll decodes p, which must hold exactly one valid frame.
func decodeAll(tb testing.TB, p []byte) Frame {
	tb.Helper()
	var f Frame
	n, err := Decode(p, &f, DefaultMaxFrame)
	if err != nil {
		tb.Fatalf("decode %x: %v", p, err)
	}
	if n != len(p) {
		tb.Fatalf("decode consumed %d of %d bytes", n, len(p))
	}
	return f
}
