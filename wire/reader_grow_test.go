package wire

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// trickle is a source that hands out data a few bytes per read and then
// blocks (reports a timeout), like a client that declared a large frame
// and sends it slowly.
type trickle struct {
	data []byte
	per  int
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, timeoutErr{}
	}
	n := copy(p[:min(len(p), t.per)], t.data)
	t.data = t.data[n:]
	return n, nil
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// A header declaring a large frame does not make the reader set aside the
// frame's size: the buffer grows with the bytes that arrive, to about
// twice what was sent (two and a half: large buffers come in size classes
// a quarter apart).
func TestReaderGrowsWithArrivingBytes(t *testing.T) {
	frame := AppendPub(nil, "big", "", nil, make([]byte, 1<<20), false, 0)
	for _, sent := range []int{HeaderLen, 1000, 10 << 10, 100 << 10, 600 << 10} {
		r := NewReader(&trickle{data: frame[:sent], per: 4 << 10}, 2<<20)
		var f Frame
		if err := r.Next(&f); !errors.As(err, new(timeoutErr)) {
			t.Fatalf("sent %d: Next = %v, want the source's timeout", sent, err)
		}
		if got, limit := len(r.b.buf), max(initialBuf, 5*sent/2); got > limit {
			t.Errorf("sent %d of a 1 MiB frame: buffer %d bytes, want at most %d", sent, got, limit)
		}
	}
}

// A stream that has sent a large frame whole gets the next one's buffer at
// once, and the frames come through intact either way.
func TestReaderLargeFramesBackToBack(t *testing.T) {
	var stream []byte
	for i := range 3 {
		p := make([]byte, 300<<10)
		p[0], p[len(p)-1] = byte(i), byte(i)
		stream = AppendPub(stream, "big", "", nil, p, false, 0)
	}
	pool := new(Pool)
	r := NewReader(&trickle{data: stream, per: 64 << 10}, 1<<20)
	r.SetPool(pool)
	var f Frame
	for i := range 3 {
		if err := r.Next(&f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(f.Payload) != 300<<10 || f.Payload[0] != byte(i) || f.Payload[len(f.Payload)-1] != byte(i) {
			t.Fatalf("frame %d: payload of %d bytes, ends %d %d", i, len(f.Payload), f.Payload[0], f.Payload[len(f.Payload)-1])
		}
		if i > 0 && r.b.grant == 0 {
			t.Fatal("no grant after a whole large frame")
		}
	}
	// The stream is empty now: the next Next lets the large buffer go.
	if err := r.Next(&f); !errors.As(err, new(timeoutErr)) {
		t.Fatalf("Next at the end: %v", err)
	}
	if len(r.b.buf) > hotBuf {
		t.Errorf("an idle reader holds a %d-byte buffer", len(r.b.buf))
	}
}

// A frame begun and not completed within the stall timeout fails with
// ErrStalled; frames that each complete in time do not, however long the
// stream lasts, and neither does a wait between frames.
func TestReaderStallTimeout(t *testing.T) {
	const stall = 200 * time.Millisecond
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	r := NewReader(server, 0)
	r.SetStallTimeout(stall, server.SetReadDeadline)

	frame := AppendPub(nil, "t", "", nil, make([]byte, 100), false, 0)
	go func() {
		// Three frames, each sent in two halves stall/2 apart, with a
		// pause of 2*stall between frames: slow, but each in time.
		for range 3 {
			client.Write(frame[:50])
			time.Sleep(stall / 2)
			client.Write(frame[50:])
			time.Sleep(2 * stall)
		}
		// Then half a frame and nothing more.
		client.Write(frame[:50])
	}()
	var f Frame
	for i := range 3 {
		if err := r.Next(&f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	start := time.Now()
	err := r.Next(&f)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("half a frame: Next = %v, want ErrStalled", err)
	}
	if waited := time.Since(start); waited < stall {
		t.Fatalf("stalled after %v, before the timeout of %v", waited, stall)
	}
}

var _ io.Reader = (*trickle)(nil)
