package ws_test

import (
	"testing"
	"time"

	gws "github.com/gobwas/ws"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// A WebSocket client that begins a large message and trickles it is closed
// with STALE once the frame timeout passes, the way a TCP client is: neither
// the connection nor a buffer for the declared size is held for long.
func TestSlowMessageIsCut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{FrameTimeout: timeout}})
	c := dial(t, srv.WSURL, true)
	h := gws.Header{Fin: true, OpCode: gws.OpBinary, Length: 500 << 10, Masked: true, Mask: [4]byte{1, 2, 3, 4}}
	if err := gws.WriteHeader(c, h); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range 200 { // a byte every 50 ms: progress, never a message
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	f := recvFrame(t, c)
	if f.Type != wire.TypeErr || f.Code != wire.CodeStale {
		t.Fatalf("got %v code %v %q, want ERR STALE", f.Type, f.Code, f.Text)
	}
	if waited := time.Since(start); waited < timeout {
		t.Fatalf("cut after %v, before the frame timeout of %v", waited, timeout)
	}
}
