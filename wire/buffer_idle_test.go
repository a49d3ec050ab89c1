package wire

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// Idle between reads gives every buffer back, the small one to the pool,
// unless the stream is busy (it then keeps its working buffer), and the
// stream still comes through whole; while bytes are buffered it changes
// nothing.
func TestBufferIdleGivesBuffersBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	stream := make([]byte, 256<<10)
	for i := range stream {
		stream[i] = byte(rng.IntN(256))
	}
	var pool Pool
	b := NewBuffer(&chunkReader{data: stream, max: 3000, rng: rng}, 1<<20)
	b.SetPool(&pool)
	var got []byte
	idled, kept := 0, 0
	for len(got) < len(stream) {
		n := min(len(stream)-len(got), 1+rng.IntN(2000))
		p, err := b.Peek(n)
		if err != nil {
			t.Fatalf("Peek(%d) at %d: %v", n, len(got), err)
		}
		got = append(got, p...)
		b.Discard(n)
		if k := b.Buffered(); k > 0 && rng.IntN(2) == 0 {
			p, _ := b.Peek(k) // all that is buffered: the buffer empties
			got = append(got, p...)
			b.Discard(k)
		}
		pending := b.Buffered()
		b.Idle()
		if pending > 0 {
			if b.Buffered() != pending || b.buf == nil {
				t.Fatalf("Idle with %d bytes buffered dropped them (%d left)", pending, b.Buffered())
			}
			continue
		}
		busy := b.working > initialBuf
		switch {
		case busy && b.buf == nil:
			t.Fatalf("Idle on a busy stream (working size %d) dropped its buffer", b.working)
		case busy:
			kept++
		case b.buf != nil || b.small != nil:
			t.Fatalf("Idle on a quiet stream kept a buffer of %d bytes", len(b.buf))
		default:
			idled++
		}
		if rng.IntN(4) == 0 {
			b.working = initialBuf // as after a quiet spell
		}
	}
	if !bytes.Equal(got, stream) {
		t.Fatal("stream differs")
	}
	if idled == 0 || kept == 0 {
		t.Fatalf("Idle gave back %d times and kept %d times: the test proves too little", idled, kept)
	}
	if _, err := b.Peek(1); err != io.EOF {
		t.Fatalf("Peek at the end: %v, want EOF", err)
	}
}

// Idle clears a stall deadline that an item armed: a connection waiting
// for its peer between items must not time out as stalled.
func TestBufferIdleClearsTheStallDeadline(t *testing.T) {
	var deadlines []time.Time
	b := NewBuffer(&chunkReader{data: []byte("0123456789"), max: 3, rng: rand.New(rand.NewPCG(5, 6))}, 1<<10)
	b.SetStallTimeout(time.Minute, func(t time.Time) error { deadlines = append(deadlines, t); return nil })
	if _, err := b.Peek(10); err != nil {
		t.Fatal(err)
	}
	b.Discard(10)
	if len(deadlines) == 0 || deadlines[len(deadlines)-1].IsZero() {
		t.Fatalf("a partial item armed no deadline: %v", deadlines)
	}
	b.Idle()
	if last := deadlines[len(deadlines)-1]; !last.IsZero() {
		t.Fatalf("Idle left the stall deadline at %v", last)
	}
}

// FillFrom reads into the buffer as a read of the source would: nothing
// for ErrWouldBlock, the bytes for a read, and an end of stream kept for
// the Peek after the buffered bytes.
func TestBufferFillFrom(t *testing.T) {
	var pool Pool
	b := NewBuffer(bytes.NewReader(nil), 1<<20)
	b.SetPool(&pool)
	b.Idle()
	if n, err := b.FillFrom(func([]byte) (int, error) { return 0, ErrWouldBlock }); n != 0 || err != ErrWouldBlock || b.Buffered() != 0 {
		t.Fatalf("would block: %d %v, %d buffered", n, err, b.Buffered())
	}
	b.Idle()
	if b.buf != nil {
		t.Fatal("Idle after a read that found nothing kept a buffer")
	}
	if n, err := b.FillFrom(func(p []byte) (int, error) { return copy(p, "hello"), io.EOF }); n != 5 || err != io.EOF {
		t.Fatalf("read: %d %v", n, err)
	}
	if n, err := b.FillFrom(func([]byte) (int, error) { t.Fatal("read with an error pending"); return 0, nil }); n != 0 || err != nil {
		t.Fatalf("with an error pending: %d %v", n, err)
	}
	p, err := b.Peek(5)
	if err != nil || string(p) != "hello" {
		t.Fatalf("Peek: %q %v", p, err)
	}
	b.Discard(5)
	if _, err := b.Peek(1); err != io.EOF {
		t.Fatalf("Peek after the bytes: %v, want EOF", err)
	}
}
