package adapters

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// heldConn is a FrameConn whose first write waits for release, to stop a
// session in the middle of writing a batch.
type heldConn struct {
	mu      sync.Mutex
	calls   int
	written []byte
	first   chan struct{} // closed when the first write starts
	release chan struct{}
}

func (h *heldConn) ReadFrame(*wire.Frame) error { select {} }
func (h *heldConn) WriteFrames(p []byte) error {
	h.mu.Lock()
	h.calls++
	n := h.calls
	h.mu.Unlock()
	if n == 1 {
		close(h.first)
		<-h.release
	}
	h.mu.Lock()
	h.written = append(h.written, p...)
	h.mu.Unlock()
	return nil
}
func (h *heldConn) SetReadDeadline(time.Time) error  { return nil }
func (h *heldConn) SetWriteDeadline(time.Time) error { return nil }
func (h *heldConn) Close() error                     { return nil }

// A slow consumer stopped while a batch of several chunks is being written
// gets the chunk in progress, not the rest of the batch, and then the ERR
// frame that says why.
func TestSlowConsumerStoppedMidBatch(t *testing.T) {
	hc := &heldConn{first: make(chan struct{}), release: make(chan struct{})}
	e := &Engine{opts: Options{WriteTimeout: 10 * time.Second, PingInterval: time.Hour}}
	e.wheel = newPingWheel(e.opts.PingInterval, (*session).ping)
	ss := newSession(e, hc)
	big := make([]byte, 200<<10) // one MSG per 256 KiB chunk
	for range 3 {
		ss.send(func(b []byte) []byte { return wire.AppendMsg(b, 0, 1, []byte("t"), nil, nil, big) })
	}
	ss.start(wire.AppendPing(nil))
	<-hc.first
	ss.stop(fmt.Errorf("%w: too much pending", broker.ErrSlowConsumer))
	close(hc.release) // the peer takes the chunk in progress
	ss.wait()

	hc.mu.Lock()
	defer hc.mu.Unlock()
	var f wire.Frame
	msgs, errs := 0, 0
	for p := hc.written; len(p) > 0; {
		n, err := wire.Decode(p, &f, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		switch f.Type {
		case wire.TypeMsg:
			msgs++
		case wire.TypeErr:
			errs++
			if f.Code != wire.CodeSlowConsumer {
				t.Fatalf("ERR code %v", f.Code)
			}
		}
		p = p[n:]
	}
	if msgs != 1 || errs != 1 {
		t.Fatalf("%d MSG and %d ERR frames written, want the 1 MSG in progress and 1 ERR", msgs, errs)
	}
}
