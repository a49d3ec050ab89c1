package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func fuzzSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{
		nil,
		{0, 0, 0},
		{0xff, 0xff, 0xff, 0xff, 3, 0},
		frame(TypePub, FlagHeader, str16("a"), be32(3), []byte{0, 1, 0}),
		frame(TypePub, FlagAck, str16("a"), be64(0)),
		frame(TypeHello, 0, []byte{0}, str16(""), str16(""), str16(""), str16("")),
	}
	for _, v := range loadVectors(f) {
		seeds = append(seeds, v.data)
	}
	return seeds
}

var sentinels = []error{ErrShort, ErrFrameTooLarge, ErrMalformed, ErrUnknownType, ErrBadFlags, ErrHeader}

func sentinel(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var fr Frame
		n, err := Decode(p, &fr, 1<<16)
		if err != nil {
			if sentinel(err) == nil {
				t.Fatalf("error %v is none of the sentinels", err)
			}
			if n != 0 {
				t.Fatalf("consumed %d on error", n)
			}
			return
		}
		if l, ok := FrameLen(p); !ok || l != n {
			t.Fatalf("consumed %d, FrameLen %d", n, l)
		}
		enc := AppendFrame(nil, &fr)
		if !bytes.Equal(enc, p[:n]) {
			t.Fatalf("re-encoded\n%x\nfrom\n%x", enc, p[:n])
		}
		var again Frame
		if m, err := Decode(enc, &again, 1<<16); err != nil || m != len(enc) {
			t.Fatalf("re-encoded frame does not decode: %d %v", m, err)
		}
		if !sameFrame(&fr, &again) {
			t.Fatalf("fields differ after a round trip:\n%+v\n%+v", fr, again)
		}
		if fr.Type == TypePub || fr.Type == TypeMsg {
			if len(fr.Header) > 0 {
				if _, err := ParseHeader(fr.Header); err != nil {
					t.Fatalf("validated header does not parse: %v", err)
				}
			}
		}
	})
}

// FuzzReader checks that a Reader over any chunking of a stream, with any
// small initial buffer, with or without owned payloads, gives what Decode
// gives over the whole stream.
func FuzzReader(f *testing.F) {
	all, _ := stream(f)
	f.Add(all, uint64(1), uint8(1), uint8(7))
	f.Add(all, uint64(2), uint8(0), uint8(200))
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint64(3), uint8(16), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, bufSize, chunk uint8) {
		const limit = 4096
		type result struct {
			enc []byte
			err error
		}
		var want []result
		for rest := data; ; {
			if len(rest) == 0 {
				want = append(want, result{err: io.EOF})
				break
			}
			var fr Frame
			n, err := Decode(rest, &fr, limit)
			if err == ErrShort {
				want = append(want, result{err: io.ErrUnexpectedEOF})
				break
			}
			if err == ErrFrameTooLarge {
				want = append(want, result{err: ErrFrameTooLarge})
				break
			}
			if err != nil {
				want = append(want, result{err: sentinel(err)})
				n, _ = FrameLen(rest)
			} else {
				want = append(want, result{enc: AppendFrame(nil, &fr)})
			}
			rest = rest[n:]
		}
		cr := &chunkReader{data: data, rng: rand.New(rand.NewPCG(seed, seed)), max: int(chunk) + 1}
		r := newReaderSize(cr, limit, int(bufSize)+1)
		if seed%2 == 1 {
			// MSG payloads from a few bytes up in buffers of their own.
			r.SetOwnedPayloads(1+int(chunk)%32, func(n int) []byte { return make([]byte, n) })
		}
		var fr Frame
		for i, w := range want {
			err := r.Next(&fr)
			switch {
			case w.err == nil && err != nil:
				t.Fatalf("frame %d: %v, want %x", i, err, w.enc)
			case w.err == nil:
				if got := AppendFrame(nil, &fr); !bytes.Equal(got, w.enc) {
					t.Fatalf("frame %d: %x, want %x", i, got, w.enc)
				}
			case w.err == io.EOF || w.err == io.ErrUnexpectedEOF || w.err == ErrFrameTooLarge:
				if err != w.err {
					t.Fatalf("frame %d: %v, want %v", i, err, w.err)
				}
			case sentinel(err) != w.err:
				t.Fatalf("frame %d: %v, want %v", i, err, w.err)
			}
			if len(r.b.buf) > HeaderLen+limit && len(r.b.buf) > int(bufSize)+1 {
				t.Fatalf("buffer of %d bytes over the limit", len(r.b.buf))
			}
		}
	})
}
