package tcp_test

import (
	"net"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// BenchmarkConnectSubscribeClose is a client's whole short life, one after
// another over loopback TCP: connect, HELLO, WELCOME, a subscription
// confirmed with a PING, close; ns/op is per connection, and includes the
// server's closing of every session (waited for at the end). It is what a
// reconnect storm costs (parking new sessions after their first bursts, to
// spare a storm a goroutine per connection, was measured with it and left
// out: 15-35% slower).
func BenchmarkConnectSubscribeClose(b *testing.B) {
	srv := adapterstest.Start(b, adapterstest.Config{})
	hello := wire.AppendHello(nil, &wire.Hello{Version: wire.Version})
	sub := wire.AppendPing(wire.AppendSub(nil, 1, "connect.bench", ""))
	var f wire.Frame
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			b.Fatal(err)
		}
		r := wire.NewReader(c, 0)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		c.Write(hello)
		must(b, r.Next(&f))
		if f.Type != wire.TypeWelcome {
			b.Fatalf("got %v, want WELCOME", f.Type)
		}
		c.Write(sub)
		for f.Type != wire.TypePong {
			must(b, r.Next(&f))
		}
		c.Close()
	}
	for srv.B.Stats().Connections > 0 {
		time.Sleep(time.Millisecond)
	}
}
