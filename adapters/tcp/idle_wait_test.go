package tcp_test

import (
	"net"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// An idle session waits for its peer with no read buffer and no stall
// deadline: a client that sent a frame in pieces (arming the frame
// timeout) and then stays quiet for longer than the frame timeout is still
// served, and its frames, split anywhere, published after the quiet spell
// reach a subscriber whole and in order.
func TestQuietBetweenFramesIsNotAStall(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{FrameTimeout: timeout}})
	dial := func() (net.Conn, *wire.Reader) {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.Write(wire.AppendHello(nil, &wire.Hello{Version: wire.Version}))
		r := wire.NewReader(c, 0)
		var f wire.Frame
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := r.Next(&f); err != nil || f.Type != wire.TypeWelcome {
			t.Fatalf("WELCOME: %v %v", f.Type, err)
		}
		return c, r
	}
	sub, sr := dial()
	sub.Write(wire.AppendPing(wire.AppendSub(nil, 1, "quiet", "")))
	var f wire.Frame
	if err := sr.Next(&f); err != nil || f.Type != wire.TypePong {
		t.Fatalf("PONG after SUB: %v %v", f.Type, err)
	}

	pub, pr := dial()
	for round := range 3 {
		// One PUB in two pieces with a pause: the frame timeout is armed.
		p := wire.AppendPub(nil, "quiet", "", nil, []byte{byte(round), 1, 2, 3}, false, 0)
		pub.Write(p[:5])
		time.Sleep(timeout / 4)
		pub.Write(p[5:])
		// Quiet for twice the frame timeout, between frames.
		time.Sleep(2 * timeout)
		sub.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := sr.Next(&f); err != nil || f.Type != wire.TypeMsg || len(f.Payload) != 4 || f.Payload[0] != byte(round) {
			t.Fatalf("round %d: subscriber got %v %v %v", round, f.Type, f.Payload, err)
		}
	}
	pub.Write(wire.AppendPing(nil))
	pub.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := pr.Next(&f); err != nil || f.Type != wire.TypePong {
		t.Fatalf("the publisher, quiet between frames, was cut: %v %v %q", f.Type, err, f.Text)
	}
}
