package ws_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/adapters/ws"
)

// A Route serves another path and subprotocol as a byte stream: message
// boundaries do not matter to the reader, pings are answered, each write
// is a binary message; the native path still works beside it.
func TestRouteIsAByteStream(t *testing.T) {
	route := ws.Route{Path: "/echo", Subprotocol: "echo", Serve: func(_ context.Context, c net.Conn) {
		go func() {
			defer c.Close()
			buf := make([]byte, 5)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				c.Write(bytes.ToUpper(buf))
			}
		}()
	}}
	srv := adapterstest.Start(t, adapterstest.Config{WS: ws.Options{Routes: []ws.Route{route}}})
	ctx := context.Background()
	c, _, hs, err := gws.Dialer{Protocols: []string{"echo"}}.Dial(ctx, "ws://"+srv.WSAddr+"/echo")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if hs.Protocol != "echo" {
		t.Fatalf("subprotocol %q", hs.Protocol)
	}
	// "hello" in two messages with a ping between, then "world" and "abcde" in one.
	wsutil.WriteClientBinary(c, []byte("hel"))
	wsutil.WriteClientMessage(c, gws.OpPing, []byte("p"))
	wsutil.WriteClientBinary(c, []byte("lo"))
	wsutil.WriteClientBinary(c, []byte("worldabcde"))
	var got []byte
	for len(got) < 15 {
		msg, op, err := wsutil.ReadServerData(c)
		if err != nil {
			t.Fatal(err)
		}
		if op == gws.OpBinary {
			got = append(got, msg...)
		}
	}
	if string(got) != "HELLOWORLDABCDE" {
		t.Fatalf("%q", got)
	}
	if code := httpStatus(t, srv.WSAddr, upgradeReq("/nowhere", "")); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
	dial(t, srv.WSURL, true).Close() // the native path
}
