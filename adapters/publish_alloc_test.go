package adapters

import (
	"testing"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// noConn is a FrameConn that must not be used: any call panics.
type noConn struct{ FrameConn }

// The publish path to one subscriber allocates nothing in steady state: a
// PUB frame decoded in place, the broker message the reader makes of it,
// broker.Session.Publish and the match, and the subscriber's engine session
// encoding the MSG into its outbound buffer. Only the network write is left
// out: no writer starts (the WELCOME is never queued, as if a writer were
// already running under load), and the buffer is emptied before each
// publish as the writer's swap would. A regression here costs every message.
func TestPublishDoesNotAllocate(t *testing.T) {
	b, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, err := NewEngine(b, Options{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	connect := func() (*session, *broker.Session) {
		ss := newSession(e, noConn{})
		s, err := b.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "test"}}, broker.Credentials{}, ss)
		if err != nil {
			t.Fatal(err)
		}
		ss.s.Store(s)
		return ss, s
	}
	sub, subSession := connect()
	if err := subSession.Subscribe(1, "zero.*", broker.SubOptions{}); err != nil {
		t.Fatal(err)
	}
	_, pub := connect()

	pubFrame := wire.AppendPub(nil, "zero.alloc", "", nil, make([]byte, 16), false, 0)
	var (
		f wire.Frame
		m broker.Message
	)
	// What the writer does, without writing: the queue emptied, its first
	// chunk kept for the next deliveries.
	empty := func(c [][]byte) [][]byte {
		sub.queued = 0
		if len(c) == 0 {
			return c
		}
		c[0] = c[0][:0]
		return c[:1]
	}
	publish := func() {
		sub.out.Append(empty)
		if _, err := wire.Decode(pubFrame, &f, e.opts.MaxFrame); err != nil {
			t.Fatal(err)
		}
		m = pubMessage(&f)
		if err := pub.Publish(&m); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up: the match cache takes a topic on its second miss, and the
	// outbound buffer gets its size.
	publish()
	publish()
	if n := testing.AllocsPerRun(1000, publish); n != 0 {
		t.Errorf("%v allocations per publish", n)
	}

	// What was measured is a delivery: the buffer holds one MSG for
	// subscription 1.
	var queued []byte
	sub.out.Append(func(c [][]byte) [][]byte {
		for _, b := range c {
			queued = append(queued, b...)
		}
		return c
	})
	n, err := wire.Decode(queued, &f, e.opts.MaxFrame)
	if err != nil || n != len(queued) || f.Type != wire.TypeMsg || f.SID != 1 || string(f.Topic) != "zero.alloc" {
		t.Fatalf("outbound queue: %v sid %d topic %q, %d of %d bytes, %v", f.Type, f.SID, f.Topic, n, len(queued), err)
	}
}
