package tcp_test

import (
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// BenchmarkIdleSession reports what an idle TCP session (handshake done,
// one subscription, heartbeats on) costs the broker's process: goroutines,
// Go heap and goroutine stacks per connection (the dialing side's sockets
// are counted too, a few hundred bytes each). Each iteration opens 2,000
// sessions, lets them go quiet for two ping intervals, answers the PING
// with a PONG as every client does (the session then parks), and closes
// them. `msgtrans bench --scenario idle` measures the broker's RSS from
// outside. alloc-B/conn/ping is the garbage each parked session makes per
// ping interval (its PING, the wake-up for the PONG, parking again): what
// makes the heap grow toward the collector's goal while nothing happens.
func BenchmarkIdleSession(b *testing.B) {
	const n = 2000
	// IDLE_HEAP_PROFILE=file: a heap profile of the parked sessions.
	prof := adapterstest.StartHeapProfile()
	defer prof.Stop()
	const ping = 500 * time.Millisecond
	srv := adapterstest.Start(b, adapterstest.Config{Engine: adapters.Options{PingInterval: ping, DeadPeerTimeout: time.Minute}})
	hello := wire.AppendHello(nil, &wire.Hello{Version: wire.Version, Name: "idle"})
	pong := wire.AppendPong(nil)
	var goroutines, heap, stack, allocs float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		conns := make([]net.Conn, 0, n)
		for i := range n {
			c, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Write(wire.AppendSub(hello, 1, "idle."+string(rune('a'+i%26)), "")); err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		deadline := time.Now().Add(time.Minute)
		for srv.B.Stats().Connections < n {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d sessions open", srv.B.Stats().Connections, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Quiet for two ping intervals (the first still sees the SUB),
		// then the PONG every client sends to the server's PING.
		time.Sleep(2*ping + ping/2)
		for _, c := range conns {
			c.Write(pong)
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
		garbage, readers := pingGarbage(conns, ping)
		allocs += garbage
		for _, c := range conns {
			c.Close()
		}
		readers()
		for srv.B.Stats().Connections > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	per := float64(b.N * n)
	b.ReportMetric(goroutines/per, "goroutines/conn")
	b.ReportMetric(heap/per, "heap-B/conn")
	b.ReportMetric(stack/per, "stack-B/conn")
	b.ReportMetric(allocs/per, "alloc-B/conn/ping")
	b.ReportMetric(0, "ns/op")
}

// pingGarbage lets the clients on conns answer PINGs (one PONG per read;
// the readers allocate nothing) for a few ping intervals, and returns the
// bytes the process allocated per ping interval, and a wait for the
// readers, which end when their connections are closed.
func pingGarbage(conns []net.Conn, ping time.Duration) (float64, func()) {
	pong := wire.AppendPong(nil)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if n > 0 {
					c.Write(pong)
				}
			}
		}()
	}
	time.Sleep(ping + ping/2) // the backlog read, the sessions parked again
	const intervals = 4
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	time.Sleep(intervals * ping)
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / intervals, wg.Wait
}
