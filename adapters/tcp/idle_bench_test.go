package tcp_test

import (
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// BenchmarkIdleSession: what an idle TCP session costs (adapterstest.BenchIdle),
// 2,000 at a time. alloc-B/conn/ping is the garbage each parked session
// makes per ping interval (its PING, the wake-up for the PONG, parking
// again): what makes the heap grow toward the collector's goal while
// nothing happens.
func BenchmarkIdleSession(b *testing.B) {
	hello := wire.AppendHello(nil, &wire.Hello{Version: wire.Version, Name: "idle"})
	pong := wire.AppendPong(nil)
	adapterstest.BenchIdle(b, adapterstest.IdleBench{
		Sessions: 2000,
		Ping:     500 * time.Millisecond,
		Dial: func(tb testing.TB, srv *adapterstest.Server, i int) net.Conn {
			c, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				tb.Fatal(err)
			}
			if _, err := c.Write(wire.AppendSub(hello, 1, "idle."+string(rune('a'+i%26)), "")); err != nil {
				tb.Fatal(err)
			}
			return c
		},
		Pong:    func(c net.Conn) { c.Write(pong) },
		Garbage: pingGarbage,
	})
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
