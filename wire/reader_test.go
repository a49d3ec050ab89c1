package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// stream concatenates all vectors.
func stream(tb testing.TB) ([]byte, []vector) {
	vs := loadVectors(tb)
	var all []byte
	for _, v := range vs {
		all = append(all, v.data...)
	}
	return all, vs
}

// readAll reads frames until an error and returns their encodings.
func readAll(r *Reader) ([][]byte, error) {
	var out [][]byte
	var f Frame
	for {
		if err := r.Next(&f); err != nil {
			return out, err
		}
		out = append(out, AppendFrame(nil, &f))
	}
}

func checkFrames(t *testing.T, got [][]byte, vs []vector) {
	t.Helper()
	if len(got) != len(vs) {
		t.Fatalf("%d frames, want %d", len(got), len(vs))
	}
	for i, v := range vs {
		if !bytes.Equal(got[i], v.data) {
			t.Errorf("frame %d (%s): %x", i, v.name, got[i])
		}
	}
}

func TestReaderOneByte(t *testing.T) {
	all, vs := stream(t)
	for _, size := range []int{1, 7, initialBuf} {
		got, err := readAll(newReaderSize(iotest.OneByteReader(bytes.NewReader(all)), 0, size))
		if err != io.EOF {
			t.Fatalf("size %d: end with %v", size, err)
		}
		checkFrames(t, got, vs)
	}
}

func TestReaderRandomChunks(t *testing.T) {
	all, vs := stream(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		cr := &chunkReader{data: all, rng: rng, max: 1 + rng.IntN(64)}
		got, err := readAll(newReaderSize(cr, 0, 1+rng.IntN(80)))
		if err != io.EOF {
			t.Fatalf("end with %v", err)
		}
		checkFrames(t, got, vs)
	}
}

// chunkReader returns data in chunks of random size in [0, max], sometimes
// with io.EOF on the last chunk.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
	max  int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(c.rng.IntN(c.max+1), len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	if len(c.data) == 0 && c.rng.IntN(2) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func TestReaderManyFramesOneRead(t *testing.T) {
	var all []byte
	const n = 1000
	for i := range n {
		all = AppendPub(all, "t.x", "", nil, []byte{byte(i)}, false, 0)
	}
	frameLen, _ := FrameLen(all)
	reads := 0
	r := newReaderSize(readCounter{bytes.NewReader(all), &reads}, 0, 32<<10)
	var f Frame
	for i := range n {
		if err := r.Next(&f); err != nil {
			t.Fatal(err)
		}
		if f.Payload[0] != byte(i) {
			t.Fatalf("frame %d payload %d", i, f.Payload[0])
		}
		if i == 0 && r.Buffered() != len(all)-frameLen {
			t.Errorf("Buffered after the first frame = %d, want %d", r.Buffered(), len(all)-frameLen)
		}
	}
	if r.Buffered() != 0 {
		t.Errorf("Buffered at the end = %d", r.Buffered())
	}
	if err := r.Next(&f); err != io.EOF {
		t.Errorf("end: %v", err)
	}
	if reads > 3 {
		t.Errorf("%d reads for %d bytes", reads, len(all))
	}
}

type readCounter struct {
	r io.Reader
	n *int
}

func (rc readCounter) Read(p []byte) (int, error) { *rc.n++; return rc.r.Read(p) }

func TestReaderLargeFrame(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16) // 100 KiB
	var all []byte
	all = AppendPub(all, "small.1", "", nil, []byte("a"), false, 0)
	all = AppendPub(all, "big", "", nil, payload, false, 0)
	all = AppendPub(all, "small.2", "", nil, []byte("b"), false, 0)
	r := NewReader(&chunkReader{data: all, rng: rand.New(rand.NewPCG(3, 4)), max: 9000}, 0)
	var f Frame
	if err := r.Next(&f); err != nil || string(f.Topic) != "small.1" {
		t.Fatalf("first: %s %v", f.Topic, err)
	}
	if err := r.Next(&f); err != nil || string(f.Topic) != "big" || !bytes.Equal(f.Payload, payload) {
		t.Fatalf("big: %s %v", f.Topic, err)
	}
	if len(r.b.buf) <= initialBuf {
		t.Errorf("buffer did not grow: %d", len(r.b.buf))
	}
	if err := r.Next(&f); err != nil || string(f.Topic) != "small.2" {
		t.Fatalf("last: %s %v", f.Topic, err)
	}
	if len(r.b.buf) != initialBuf {
		t.Errorf("buffer did not shrink back: %d", len(r.b.buf))
	}
	if err := r.Next(&f); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

func TestReaderEOF(t *testing.T) {
	all, _ := stream(t)
	cases := []struct {
		name string
		p    []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"whole frames", all, io.EOF},
		{"mid header", append(AppendPing(nil), 0, 0, 0), io.ErrUnexpectedEOF},
		{"mid body", AppendPub(nil, "a", "", nil, []byte("xyz"), false, 0)[:9], io.ErrUnexpectedEOF},
		{"last frame missing its last byte", all[:len(all)-1], io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		_, err := readAll(NewReader(iotest.OneByteReader(bytes.NewReader(c.p)), 0))
		if err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestReaderTooLarge(t *testing.T) {
	var all []byte
	all = AppendPing(all)
	all = AppendPub(all, "a", "", nil, make([]byte, 2000), false, 0)
	r := newReaderSize(bytes.NewReader(all), 1024, 64)
	var f Frame
	if err := r.Next(&f); err != nil || f.Type != TypePing {
		t.Fatalf("first: %v %v", f.Type, err)
	}
	if err := r.Next(&f); err != ErrFrameTooLarge {
		t.Fatalf("oversized: %v", err)
	}
	if len(r.b.buf) != 64 {
		t.Errorf("buffer grew to %d for a frame over the limit", len(r.b.buf))
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := r.Next(&f); err != ErrFrameTooLarge {
			t.Fatalf("again: %v", err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
	// A hostile 4 GiB declaration on a fresh reader.
	r = NewReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 3, 0}), 0)
	if err := r.Next(&f); err != ErrFrameTooLarge || len(r.b.buf) != initialBuf {
		t.Errorf("4 GiB: %v, buffer %d", err, len(r.b.buf))
	}
}

func TestReaderSkipsMalformedFrame(t *testing.T) {
	var all []byte
	all = AppendPing(all)
	all = append(all, frame(TypePub, 0x80, str16("a"))...)
	all = append(all, frame(0x7f, 0)...)
	all = AppendPong(all)
	r := NewReader(bytes.NewReader(all), 0)
	var f Frame
	for i, want := range []error{nil, ErrBadFlags, ErrUnknownType, nil, io.EOF} {
		if err := r.Next(&f); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("frame %d: %v, want %v", i, err, want)
		}
	}
}

// flakyReader fails once with errTimeout after delivering part of the data.
type flakyReader struct {
	data   []byte
	failAt int
	failed bool
}

var errTimeout = errors.New("i/o timeout")

func (fr *flakyReader) Read(p []byte) (int, error) {
	if !fr.failed && len(fr.data) > 0 {
		n := copy(p, fr.data[:min(fr.failAt, len(fr.data))])
		fr.data = fr.data[n:]
		fr.failed = true
		return n, errTimeout
	}
	if len(fr.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, fr.data)
	fr.data = fr.data[n:]
	return n, nil
}

func TestReaderRetryAfterError(t *testing.T) {
	p := AppendPub(nil, "a.b", "", nil, []byte("payload"), false, 0)
	r := NewReader(&flakyReader{data: p, failAt: 10}, 0)
	var f Frame
	if err := r.Next(&f); err != errTimeout {
		t.Fatalf("first: %v", err)
	}
	if r.Buffered() != 10 {
		t.Errorf("Buffered = %d after a partial read", r.Buffered())
	}
	if err := r.Next(&f); err != nil || string(f.Payload) != "payload" {
		t.Fatalf("retry: %q %v", f.Payload, err)
	}
	if err := r.Next(&f); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	var f Frame
	if err := NewReader(zeroReader{}, 0).Next(&f); err != io.ErrNoProgress {
		t.Errorf("%v", err)
	}
}

func TestReaderSetMaxFrame(t *testing.T) {
	var stream []byte
	stream = AppendPub(stream, "a", "", nil, make([]byte, 100), false, 0)
	stream = AppendPub(stream, "a", "", nil, make([]byte, 100), false, 0)
	r := NewReader(bytes.NewReader(stream), 50)
	var f Frame
	if err := r.Next(&f); err != ErrFrameTooLarge {
		t.Fatalf("under a 50-byte limit: %v", err)
	}
	r = NewReader(bytes.NewReader(stream), 50)
	r.SetMaxFrame(1000)
	if err := r.Next(&f); err != nil || len(f.Payload) != 100 {
		t.Fatalf("after raising the limit: %v", err)
	}
	r.SetMaxFrame(10)
	if err := r.Next(&f); err != ErrFrameTooLarge {
		t.Fatalf("after lowering the limit: %v", err)
	}
}

// An idle stream holds a small buffer; a busy one reads in large chunks;
// once it goes quiet the buffer shrinks back.
func TestReaderAdaptsItsBuffer(t *testing.T) {
	pr, pw := io.Pipe()
	r := NewReader(pr, 0)
	if len(r.b.buf) != initialBuf {
		t.Fatalf("initial buffer %d", len(r.b.buf))
	}
	var burst []byte
	for range 20000 {
		burst = AppendPub(burst, "busy", "", nil, make([]byte, 16), false, 0)
	}
	go func() {
		pw.Write(burst) // a pipe hands over as much as each read asks for
		for range 2 * quietReads {
			pw.Write(AppendPing(nil))
		}
		pw.Close()
	}()
	var f Frame
	grown := 0
	for range 20000 {
		if err := r.Next(&f); err != nil {
			t.Fatal(err)
		}
		grown = max(grown, len(r.b.buf))
	}
	if grown != hotBuf {
		t.Errorf("a busy stream read with a %d-byte buffer, want %d", grown, hotBuf)
	}
	for range 2 * quietReads {
		if err := r.Next(&f); err != nil || f.Type != TypePing {
			t.Fatalf("%v %v", f.Type, err)
		}
	}
	if len(r.b.buf) != initialBuf {
		t.Errorf("after the stream went quiet the buffer is %d, want %d", len(r.b.buf), initialBuf)
	}
}
