package tcp_test

import (
	"net"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// A client that begins a frame and does not finish it within the frame
// timeout is closed with STALE, even though it keeps sending a byte now
// and then (which the dead-peer check alone would take a minute to see).
func TestSlowFrameIsCut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{FrameTimeout: timeout}})
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(wire.AppendHello(nil, &wire.Hello{Version: wire.Version}))
	r := wire.NewReader(c, 0)
	var f wire.Frame
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := r.Next(&f); err != nil || f.Type != wire.TypeWelcome {
		t.Fatalf("WELCOME: %v %v", f.Type, err)
	}
	pub := wire.AppendPub(nil, "t", "", nil, make([]byte, 1<<20), false, 0)
	go func() {
		for i := range 1000 { // a byte every 50 ms: progress, never a frame
			if _, err := c.Write(pub[i : i+1]); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	start := time.Now()
	for {
		if err := r.Next(&f); err != nil {
			t.Fatalf("the connection ended without an ERR after %v: %v", time.Since(start), err)
		}
		if f.Type == wire.TypeErr {
			break
		}
	}
	if f.Code != wire.CodeStale || !f.Flags.Has(wire.FlagFatal) {
		t.Fatalf("ERR code %v fatal %v (%q), want a fatal STALE", f.Code, f.Flags.Has(wire.FlagFatal), f.Text)
	}
	if waited := time.Since(start); waited < timeout || waited > 10*time.Second {
		t.Fatalf("cut after %v with a frame timeout of %v", waited, timeout)
	}
}
