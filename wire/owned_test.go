package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// ownedStream is MSG frames of every shape (reply, TTL, headers; payloads
// under and over the owned minimum) with a PING between two of them.
func ownedStream(min int) ([]byte, []Frame) {
	hdr := AppendHeader(nil, map[string][]string{"k": {"v"}})
	var all []byte
	var want []Frame
	for i, c := range []struct {
		reply  string
		ttl    uint32
		header []byte
		size   int
	}{
		{"", 0, nil, min}, {"r.x", 0, nil, 3 * min}, {"", 5000, hdr, min + 1},
		{"", 0, nil, min - 1}, {"r.y", 7, hdr, 10 * min}, {"", 0, nil, 0}, {"", 0, nil, 2 * min},
	} {
		payload := bytes.Repeat([]byte{byte(i + 1)}, c.size)
		all = AppendMsgTTL(all, FlagRetain, uint32(i), c.ttl, []byte("t.x"), []byte(c.reply), c.header, payload)
		if i == 2 {
			all = AppendPing(all)
		}
	}
	// What Decode makes of the same bytes, decoded in place.
	for p := all; len(p) > 0; {
		var f Frame
		n, err := Decode(p, &f, 0)
		if err != nil {
			panic(err)
		}
		want = append(want, f)
		p = p[n:]
	}
	return all, want
}

// With owned payloads on, MSG payloads of at least the minimum come in
// buffers from the caller's alloc, whole, with every field before them
// right, however the stream cuts the bytes; smaller payloads and other
// frames are decoded as before.
func TestReaderOwnedPayloads(t *testing.T) {
	const min = 5000
	all, want := ownedStream(min)
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 100 {
		var src io.Reader = &chunkReader{data: all, rng: rng, max: 1 + rng.IntN(3*min)}
		if round == 0 {
			src = bytes.NewReader(all) // everything at once: frames already buffered
		}
		r := NewReader(src, 0)
		var allocs [][]byte
		r.SetOwnedPayloads(min, func(n int) []byte {
			b := make([]byte, n)
			allocs = append(allocs, b)
			return b
		})
		for i, w := range want {
			var f Frame
			if err := r.Next(&f); err != nil {
				t.Fatalf("round %d, frame %d: %v", round, i, err)
			}
			owned := len(allocs) > 0 && len(f.Payload) > 0 && &allocs[len(allocs)-1][0] == &f.Payload[0]
			if w.Type == TypeMsg && (len(w.Payload) >= min) != owned {
				t.Fatalf("round %d, frame %d (%d bytes): owned %v", round, i, len(w.Payload), owned)
			}
			if f.Type != w.Type || f.Flags != w.Flags || f.SID != w.SID || string(f.Topic) != string(w.Topic) ||
				string(f.Reply) != string(w.Reply) || f.TTL != w.TTL || !bytes.Equal(f.Header, w.Header) || !bytes.Equal(f.Payload, w.Payload) {
				t.Fatalf("round %d, frame %d: got %v sid %d topic %q reply %q ttl %d header %q, %d bytes", round, i,
					f.Type, f.SID, f.Topic, f.Reply, f.TTL, f.Header, len(f.Payload))
			}
		}
		var f Frame
		if err := r.Next(&f); err != io.EOF {
			t.Fatalf("round %d: after the frames: %v", round, err)
		}
	}
}

// A stream that ends inside an owned payload gives io.ErrUnexpectedEOF,
// and so does every later call; a MSG whose header block claims more than
// the frame holds is skipped with ErrMalformed, and the next frame is
// read.
func TestReaderOwnedPayloadErrors(t *testing.T) {
	alloc := func(n int) []byte { return make([]byte, n) }
	frame := AppendMsg(nil, 0, 1, []byte("t"), nil, nil, make([]byte, 100<<10))
	r := NewReader(bytes.NewReader(frame[:50<<10]), 0)
	r.SetOwnedPayloads(1000, alloc)
	for range 2 {
		var f Frame
		if err := r.Next(&f); err != io.ErrUnexpectedEOF {
			t.Fatalf("cut payload: %v", err)
		}
	}

	bad := AppendMsg(nil, 0, 1, []byte("t"), nil, nil, make([]byte, 5000))
	bad[5] |= byte(FlagHeader)  // the payload's first 4 bytes (0) now read as a header length...
	bad[HeaderLen+4+2+1] = 0xff // ...of 0xff000000: past the frame's end
	good := AppendMsg(nil, 0, 2, []byte("t"), nil, nil, make([]byte, 5000))
	r = NewReader(bytes.NewReader(append(bad, good...)), 0)
	r.SetOwnedPayloads(1000, alloc)
	var f Frame
	if err := r.Next(&f); !errors.Is(err, ErrHeader) {
		t.Fatalf("bad header length: %v", err)
	}
	if err := r.Next(&f); err != nil || f.SID != 2 || len(f.Payload) != 5000 {
		t.Fatalf("after the bad frame: %v, sid %d, %d bytes", err, f.SID, len(f.Payload))
	}
}
