package ws_test

import (
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// recvSkipPing is recvFrame past the server's PINGs.
func recvSkipPing(t *testing.T, c net.Conn) wire.Frame {
	t.Helper()
	for {
		if f := recvFrame(t, c); f.Type != wire.TypePing {
			return f
		}
	}
}

// Quiet ws:// sessions park (the server holds no goroutine for them) and
// still work: they wake for their client's messages, deliver, and end when
// the server stops.
func TestParkedWebSocketSessions(t *testing.T) {
	const n = 20
	ping := 100 * time.Millisecond
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{PingInterval: ping, DeadPeerTimeout: time.Minute}})
	base := runtime.NumGoroutine()
	clients := make([]net.Conn, n)
	for i := range clients {
		c := dial(t, srv.WSURL, true)
		send(t, c, wire.AppendSub(nil, 1, fmt.Sprintf("wspark.%d", i), ""))
		send(t, c, wire.AppendPing(nil))
		if f := recvSkipPing(t, c); f.Type != wire.TypePong {
			t.Fatalf("got %v (%q), want PONG", f.Type, f.Text)
		}
		clients[i] = c
	}
	quiet := func(what string) {
		// Two ping intervals without traffic, then the PONG a client
		// sends to the server's PING: the sessions park.
		time.Sleep(2*ping + ping/2)
		for _, c := range clients {
			send(t, c, wire.AppendPong(nil))
		}
		adapterstest.WaitGoroutines(t, base+n/4, what)
	}
	quiet("quiet sessions")
	for round := range 2 {
		for i, c := range clients {
			send(t, c, wire.AppendPub(nil, fmt.Sprintf("wspark.%d", (i+1)%n), "", nil, []byte{byte(round), byte(i)}, false, 0))
		}
		for i, c := range clients {
			f := recvSkipPing(t, c)
			if from := (i + n - 1) % n; f.Type != wire.TypeMsg || len(f.Payload) != 2 || f.Payload[0] != byte(round) || int(f.Payload[1]) != from {
				t.Fatalf("round %d: client %d got %v %v, want MSG [%d %d]", round, i, f.Type, f.Payload, round, from)
			}
		}
		quiet(fmt.Sprintf("after round %d", round))
	}
	srv.Stop() // returns once every session, parked or not, has ended
	if got := srv.B.Stats().Connections; got != 0 {
		t.Fatalf("%d sessions after Stop", got)
	}
	for i, c := range clients {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := wsutil.ReadServerData(c); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("client %d still connected after the server stopped", i)
				}
				break
			}
		}
	}
}

// A parked ws:// session keeps getting its PINGs (written straight to the
// socket when nothing else is queued), each a whole binary message with
// one frame, and a client that answers them stays connected past the
// dead-peer timeout; one that stops answering is closed as stale.
func TestParkedWebSocketPings(t *testing.T) {
	const ping = 100 * time.Millisecond
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{PingInterval: ping, DeadPeerTimeout: 3 * ping}})
	live := dial(t, srv.WSURL, true)
	mute := dial(t, srv.WSURL, true)
	send(t, live, wire.AppendSub(nil, 1, "wsping", ""))
	// The live client answers every PING, for ten dead-peer timeouts;
	// recvFrame fails the test on anything that is not one binary
	// message holding one frame.
	pings := 0
	for end := time.Now().Add(30 * ping); time.Now().Before(end); {
		f := recvFrame(t, live)
		if f.Type != wire.TypePing {
			t.Fatalf("got %v, want only PINGs", f.Type)
		}
		pings++
		send(t, live, wire.AppendPong(nil))
	}
	if pings < 10 {
		t.Fatalf("%d PINGs in 30 ping intervals", pings)
	}
	// Still connected, and delivered to (its own publish).
	send(t, live, wire.AppendPub(nil, "wsping", "", nil, []byte("hi"), false, 0))
	if f := recvSkipPing(t, live); f.Type != wire.TypeMsg || string(f.Payload) != "hi" {
		t.Fatalf("got %v %q, want MSG hi", f.Type, f.Payload)
	}
	// The mute client read nothing all along: its session was closed as
	// stale (the PINGs, then the fatal ERR, wait in its socket).
	for {
		f := recvFrame(t, mute)
		if f.Type == wire.TypePing {
			continue
		}
		if f.Type != wire.TypeErr || f.Code != wire.CodeStale {
			t.Fatalf("mute client got %v %v, want ERR STALE", f.Type, f.Code)
		}
		break
	}
}
