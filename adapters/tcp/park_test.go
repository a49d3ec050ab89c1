package tcp_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// parkClient is a raw client that answers the server's PINGs (as the SDK
// does) and hands every other frame to frames.
type parkClient struct {
	c      net.Conn
	wmu    sync.Mutex
	frames chan wire.Frame
	ended  chan error
}

func dialPark(t *testing.T, addr string, answerPings bool) *parkClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pc := &parkClient{c: c, frames: make(chan wire.Frame, 16), ended: make(chan error, 1)}
	pc.write(wire.AppendHello(nil, &wire.Hello{Version: wire.Version}))
	go func() {
		r := wire.NewReader(c, 0)
		for {
			var f wire.Frame
			if err := r.Next(&f); err != nil {
				pc.ended <- err
				close(pc.frames)
				return
			}
			if f.Type == wire.TypePing {
				if answerPings {
					pc.write(wire.AppendPong(nil))
				}
				continue
			}
			// The frame's slices are the reader's: keep a copy.
			f.Topic, f.Payload = append([]byte(nil), f.Topic...), append([]byte(nil), f.Payload...)
			pc.frames <- f
		}
	}()
	pc.expect(t, wire.TypeWelcome)
	return pc
}

func (pc *parkClient) write(p []byte) {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	pc.c.Write(p)
}

// writeSplit writes p in two pieces, the first at bytes, a moment apart;
// the PONGs the client's reader answers with wait (inside the frame they
// would be garbage).
func (pc *parkClient) writeSplit(p []byte, at int) {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	pc.c.Write(p[:at])
	time.Sleep(time.Millisecond)
	pc.c.Write(p[at:])
}

func (pc *parkClient) expect(t *testing.T, typ wire.Type) wire.Frame {
	t.Helper()
	select {
	case f, ok := <-pc.frames:
		if !ok {
			t.Fatalf("connection ended waiting for %v: %v", typ, <-pc.ended)
		}
		if f.Type != typ {
			t.Fatalf("got %v (%q), want %v", f.Type, f.Text, typ)
		}
		return f
	case <-time.After(30 * time.Second):
		t.Fatalf("no %v within 10s", typ)
	}
	panic("unreachable")
}

// Quiet sessions give up their goroutines (they park), and parked
// sessions still do everything: they receive deliveries, wake up when
// their client publishes (also in pieces), answer PINGs, and the
// adapter's shutdown closes every one of them and waits for them.
func TestParkedSessionsHoldNoGoroutineAndStillWork(t *testing.T) {
	const n = 40
	ping := 100 * time.Millisecond
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{PingInterval: ping, DeadPeerTimeout: time.Minute}})
	base := runtime.NumGoroutine()
	clients := make([]*parkClient, n)
	for i := range clients {
		pc := dialPark(t, srv.Addr, true)
		pc.write(wire.AppendPing(wire.AppendSub(nil, 1, fmt.Sprintf("park.%d", i), "")))
		pc.expect(t, wire.TypePong)
		clients[i] = pc
	}
	// Each client has its reader goroutine here; the server, once its
	// sessions are quiet, none per session (a few may be between a PONG
	// and parking again).
	adapterstest.WaitGoroutines(t, base+n+n/4, "quiet sessions")

	for round := range 3 {
		for i, pc := range clients {
			// Client i publishes to client i+1, in two pieces.
			p := wire.AppendPub(nil, fmt.Sprintf("park.%d", (i+1)%n), "", nil, []byte{byte(round), byte(i)}, false, 0)
			pc.writeSplit(p, 3)
		}
		for i, pc := range clients {
			f := pc.expect(t, wire.TypeMsg)
			if from := (i + n - 1) % n; len(f.Payload) != 2 || f.Payload[0] != byte(round) || int(f.Payload[1]) != from {
				t.Fatalf("round %d: client %d got %v, want [%d %d]", round, i, f.Payload, round, from)
			}
		}
		// Parked again before the next round.
		adapterstest.WaitGoroutines(t, base+n+n/4, fmt.Sprintf("after round %d", round))
	}
	if got := srv.B.Stats().Connections; got != n {
		t.Fatalf("%d sessions, want %d", got, n)
	}

	srv.Stop() // returns once every session, parked or not, has ended
	for i, pc := range clients {
		select {
		case err := <-pc.ended:
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				var ne net.Error
				if !errors.As(err, &ne) {
					t.Fatalf("client %d: %v", i, err)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("client %d still connected after the server stopped", i)
		}
	}
	if got := srv.B.Stats().Connections; got != 0 {
		t.Fatalf("%d sessions after Stop", got)
	}
}

// The dead-peer check reaches parked sessions: a client that stops
// answering PINGs is closed as stale, and a client that goes away while
// its session is parked ends that session.
func TestParkedSessionsEnd(t *testing.T) {
	ping := 100 * time.Millisecond
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{PingInterval: ping, DeadPeerTimeout: 5 * ping}})
	base := runtime.NumGoroutine()
	live := dialPark(t, srv.Addr, true)
	mute := dialPark(t, srv.Addr, false)
	gone := dialPark(t, srv.Addr, true)
	adapterstest.WaitGoroutines(t, base+3+1, "quiet sessions")

	gone.c.Close()
	f := mute.expect(t, wire.TypeErr)
	if f.Code != wire.CodeStale || !f.Flags.Has(wire.FlagFatal) {
		t.Fatalf("the mute client got ERR %v fatal %v (%q), want a fatal STALE", f.Code, f.Flags.Has(wire.FlagFatal), f.Text)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.B.Stats().Connections != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions, want only the live one", srv.B.Stats().Connections)
		}
		time.Sleep(20 * time.Millisecond)
	}
	live.write(wire.AppendPing(nil))
	live.expect(t, wire.TypePong)
}
