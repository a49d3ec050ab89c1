package ws_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// BenchmarkIdleSession: what an idle ws:// session costs
// (adapterstest.BenchIdle), 1,000 at a time.
func BenchmarkIdleSession(b *testing.B) {
	hello := wire.AppendHello(nil, &wire.Hello{Version: wire.Version, Name: "idle"})
	adapterstest.BenchIdle(b, adapterstest.IdleBench{
		Sessions: 1000,
		Ping:     500 * time.Millisecond,
		Dial: func(tb testing.TB, srv *adapterstest.Server, i int) net.Conn {
			c, _, _, err := gws.Dialer{Protocols: []string{wire.Subprotocol}}.Dial(context.Background(), srv.WSURL)
			if err != nil {
				tb.Fatal(err)
			}
			wsutil.WriteClientBinary(c, hello)
			wsutil.WriteClientBinary(c, wire.AppendSub(nil, 1, fmt.Sprintf("idle.%d", i), ""))
			return c
		},
		Pong: func(c net.Conn) { wsutil.WriteClientBinary(c, wire.AppendPong(nil)) },
	})
}
