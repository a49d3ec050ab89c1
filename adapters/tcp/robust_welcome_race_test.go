package tcp_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// Shutdown while sessions are opening: WELCOME and the shutdown's ERR are
// queued under the same lock (the race detector checks).
func TestShutdownDuringHandshakes(t *testing.T) {
	for range 150 {
		srv := adapterstest.Start(t, adapterstest.Config{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", srv.Addr)
				if err != nil {
					return
				}
				defer c.Close()
				c.Write(wire.AppendHello(nil, &wire.Hello{Version: 1}))
				var b [256]byte
				c.Read(b[:])
			}()
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { srv.B.Shutdown(ctx) }()
		wg.Wait()
		cancel()
		srv.Stop()
	}
}
