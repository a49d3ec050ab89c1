package adapterstest

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
)

// IdleBench is one adapter's idle-session benchmark (see BenchIdle).
type IdleBench struct {
	Sessions int
	Ping     time.Duration // the engine's ping interval
	// Dial opens session i: handshake done and one subscription sent.
	Dial func(tb testing.TB, srv *Server, i int) net.Conn
	// Pong sends the PONG a client answers the server's PING with.
	Pong func(c net.Conn)
	// Garbage, if set, runs once the sessions are measured and parked:
	// it returns the bytes allocated per parked session's ping interval
	// (reported as alloc-B/conn/ping) and a wait for whatever it started,
	// which ends when the connections close.
	Garbage func(conns []net.Conn, ping time.Duration) (float64, func())
}

// BenchIdle reports what an idle session (handshake done, one
// subscription, heartbeats on) costs the broker's process: goroutines,
// Go heap and goroutine stacks per connection (the dialing side's sockets
// are counted too). Each iteration opens the sessions, lets them go quiet
// for two ping intervals, answers the PING as every client does (the
// session then parks), measures, and closes them. IDLE_HEAP_PROFILE=file
// writes a heap profile of the parked sessions. `msgtrans bench --scenario
// idle` measures the broker's RSS from outside.
func BenchIdle(b *testing.B, ib IdleBench) {
	prof := StartHeapProfile()
	defer prof.Stop()
	ping := ib.Ping
	srv := Start(b, Config{Engine: adapters.Options{PingInterval: ping, DeadPeerTimeout: time.Minute}})
	var goroutines, heap, stack, allocs float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		conns := make([]net.Conn, 0, ib.Sessions)
		for i := range ib.Sessions {
			conns = append(conns, ib.Dial(b, srv, i))
		}
		deadline := time.Now().Add(time.Minute)
		for srv.B.Stats().Connections < ib.Sessions {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d sessions open", srv.B.Stats().Connections, ib.Sessions)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Quiet for two ping intervals (the first still sees the SUB),
		// then the PONG every client sends to the server's PING.
		time.Sleep(2*ping + ping/2)
		for _, c := range conns {
			ib.Pong(c)
		}
		time.Sleep(ping / 2)
		for range 3 {
			runtime.GC() // each halves the stacks that can shrink
		}
		runtime.ReadMemStats(&after)
		prof.Write(b)
		goroutines += float64(runtime.NumGoroutine() - g0)
		heap += float64(int64(after.HeapInuse) - int64(before.HeapInuse))
		stack += float64(int64(after.StackInuse) - int64(before.StackInuse))
		wait := func() {}
		if ib.Garbage != nil {
			var garbage float64
			garbage, wait = ib.Garbage(conns, ping)
			allocs += garbage
		}
		for _, c := range conns {
			c.Close()
		}
		wait()
		for srv.B.Stats().Connections > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	per := float64(b.N * ib.Sessions)
	b.ReportMetric(goroutines/per, "goroutines/conn")
	b.ReportMetric(heap/per, "heap-B/conn")
	b.ReportMetric(stack/per, "stack-B/conn")
	if ib.Garbage != nil {
		b.ReportMetric(allocs/per, "alloc-B/conn/ping")
	}
	b.ReportMetric(0, "ns/op")
}

// WaitGoroutines waits until at most n goroutines run in the process (the
// sessions have parked, say), or fails the test after 20 s.
func WaitGoroutines(t testing.TB, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d goroutines, want at most %d", what, runtime.NumGoroutine(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
