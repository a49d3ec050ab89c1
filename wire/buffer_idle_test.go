package wire

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// Idle between reads gives every buffer back, the small one to the pool,
// and the stream still comes through whole; while bytes are buffered it
// changes nothing.
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
	idled := 0
	for len(got) < len(stream) {
		n := min(len(stream)-len(got), 1+rng.IntN(2000))
		p, err := b.Peek(n)
		if err != nil {
			t.Fatalf("Peek(%d) at %d: %v", n, len(got), err)
		}
		got = append(got, p...)
		b.Discard(n)
		pending := b.Buffered()
		b.Idle()
		if pending > 0 {
			if b.Buffered() != pending || b.buf == nil {
				t.Fatalf("Idle with %d bytes buffered dropped them (%d left)", pending, b.Buffered())
			}
			continue
		}
		idled++
		if b.buf != nil || b.small != nil {
			t.Fatalf("Idle with nothing buffered kept a buffer of %d bytes", len(b.buf))
		}
	}
	if !bytes.Equal(got, stream) {
		t.Fatal("stream differs")
	}
	if idled == 0 {
		t.Fatal("the buffer was never empty at an Idle: the test proves nothing")
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
