package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// Mixed Peeks, Discards and Reads of any size see the stream exactly, over
// sources that return anything from one byte to everything per read.
func TestBufferSeesTheStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	stream := make([]byte, 1<<20)
	for i := range stream {
		stream[i] = byte(rng.IntN(256))
	}
	for _, max := range []int{1, 7, 1000, 1 << 20} {
		var src io.Reader = &chunkReader{data: stream, max: max, rng: rng}
		if max == 1 {
			src = iotest.OneByteReader(bytes.NewReader(stream))
		}
		b := NewBuffer(src, 1<<20)
		var got []byte
		for len(got) < len(stream) {
			left := len(stream) - len(got)
			switch rng.IntN(3) {
			case 0: // Peek then Discard, sometimes more than the buffer holds
				n := min(left, 1+rng.IntN(100<<10))
				p, err := b.Peek(n)
				if err != nil {
					t.Fatalf("max %d: Peek(%d) at %d: %v", max, n, len(got), err)
				}
				got = append(got, p...)
				b.Discard(n)
			default:
				p := make([]byte, 1+rng.IntN(5000))
				n, err := b.Read(p)
				if err != nil {
					t.Fatalf("max %d: Read at %d: %v", max, len(got), err)
				}
				got = append(got, p[:n]...)
			}
		}
		if !bytes.Equal(got, stream) {
			t.Fatalf("max %d: stream differs", max)
		}
		if _, err := b.Peek(1); err != io.EOF {
			t.Fatalf("max %d: Peek at the end: %v, want EOF", max, err)
		}
	}
}

// A stream ending inside a Peek is an unexpected EOF; other read errors
// come through.
func TestBufferErrors(t *testing.T) {
	b := NewBuffer(bytes.NewReader([]byte("abc")), 1<<20)
	if _, err := b.Peek(5); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Peek past the end: %v", err)
	}
	boom := errors.New("boom")
	b = NewBuffer(iotest.ErrReader(boom), 1<<20)
	if _, err := b.Peek(1); !errors.Is(err, boom) {
		t.Fatalf("Peek: %v", err)
	}
}

// The buffer grows while reads fill it and a large message needs it, and
// goes back to its small size once the traffic is quiet.
func TestBufferFollowsTheTraffic(t *testing.T) {
	pr, pw := io.Pipe()
	b := NewBuffer(pr, 1<<20)
	go func() {
		pw.Write(make([]byte, 200<<10)) // a burst, read as it comes
		for range 2 * quietReads {
			pw.Write([]byte("x")) // then single bytes
		}
		pw.Close()
	}()
	if _, err := b.Peek(100 << 10); err != nil {
		t.Fatal(err)
	}
	if len(b.buf) < 100<<10 {
		t.Fatalf("buffer %d bytes for a 100 KiB peek", len(b.buf))
	}
	b.Discard(100 << 10)
	for b.Buffered() > 0 || len(b.buf) > initialBuf {
		b.Shrink(0)
		if _, err := b.Peek(1); err != nil {
			t.Fatalf("buffer still %d bytes at the end: %v", len(b.buf), err)
		}
		b.Discard(1)
	}
	if len(b.buf) != initialBuf {
		t.Fatalf("buffer %d bytes after quiet traffic", len(b.buf))
	}
}

// countReader counts the reads it serves.
type countReader struct {
	r     io.Reader
	reads int
}

func (c *countReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// Reading a large message through Read does not go 1 KiB at a time.
func TestBufferLargeReads(t *testing.T) {
	src := &countReader{r: bytes.NewReader(make([]byte, 1<<20))}
	b := NewBuffer(src, 1<<20)
	if _, err := io.ReadFull(b, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if src.reads > 4 {
		t.Fatalf("%d reads for 1 MiB", src.reads)
	}
}
