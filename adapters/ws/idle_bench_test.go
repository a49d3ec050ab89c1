package ws_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// BenchmarkIdleSession reports what an idle ws:// session (handshake
// done, one subscription, heartbeats on) costs the broker's process, as
// the TCP adapter's benchmark of the same name does: goroutines, Go heap
// and stacks per connection, the dialing side's included.
func BenchmarkIdleSession(b *testing.B) {
	const n = 1000
	// IDLE_HEAP_PROFILE=file: a heap profile of the parked sessions.
	prof := adapterstest.StartHeapProfile()
	defer prof.Stop()
	const ping = 500 * time.Millisecond
	srv := adapterstest.Start(b, adapterstest.Config{Engine: adapters.Options{PingInterval: ping, DeadPeerTimeout: time.Minute}})
	hello := wire.AppendHello(nil, &wire.Hello{Version: wire.Version, Name: "idle"})
	var goroutines, heap, stack float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		conns := make([]net.Conn, 0, n)
		for i := range n {
			c, _, _, err := gws.Dialer{Protocols: []string{wire.Subprotocol}}.Dial(context.Background(), srv.WSURL)
			if err != nil {
				b.Fatal(err)
			}
			wsutil.WriteClientBinary(c, hello)
			wsutil.WriteClientBinary(c, wire.AppendSub(nil, 1, fmt.Sprintf("idle.%d", i), ""))
			conns = append(conns, c)
		}
		deadline := time.Now().Add(time.Minute)
		for srv.B.Stats().Connections < n {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d sessions open", srv.B.Stats().Connections, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(2*ping + ping/2)
		for _, c := range conns {
			wsutil.WriteClientBinary(c, wire.AppendPong(nil))
		}
		time.Sleep(ping / 2)
		for range 3 {
			runtime.GC()
		}
		runtime.ReadMemStats(&after)
		prof.Write(b)
		goroutines += float64(runtime.NumGoroutine() - g0)
		heap += float64(int64(after.HeapInuse) - int64(before.HeapInuse))
		stack += float64(int64(after.StackInuse) - int64(before.StackInuse))
		for _, c := range conns {
			c.Close()
		}
		for srv.B.Stats().Connections > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	per := float64(b.N * n)
	b.ReportMetric(goroutines/per, "goroutines/conn")
	b.ReportMetric(heap/per, "heap-B/conn")
	b.ReportMetric(stack/per, "stack-B/conn")
	b.ReportMetric(0, "ns/op")
}
