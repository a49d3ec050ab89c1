package ws_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	xws "golang.org/x/net/websocket"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/adapters/ws"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

const wait = 5 * time.Second

// httpStatus sends a raw HTTP request to addr and returns the status code.
func httpStatus(t *testing.T, addr, req string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// upgradeReq is an upgrade request for path that offers the subprotocol,
// with extra header lines.
func upgradeReq(path, extra string) string {
	return rawUpgradeReq(path, "Sec-WebSocket-Protocol: "+wire.Subprotocol+"\r\n"+extra)
}

func rawUpgradeReq(path, extra string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

func TestBadUpgradeRequests(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{WS: ws.Options{AllowedOrigins: []string{"https://app.example.com"}}})
	for _, tc := range []struct {
		name, req string
		want      int
	}{
		{"good", upgradeReq("/ws", "Origin: https://app.example.com\r\n"), 101},
		{"query string ok", upgradeReq("/ws?x=1", ""), 101},
		{"wrong path", upgradeReq("/other", ""), 404},
		{"bad origin", upgradeReq("/ws", "Origin: https://evil.example.com\r\n"), 403},
		{"plain GET", "GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n", 400},
		{"POST", strings.Replace(upgradeReq("/ws", ""), "GET", "POST", 1), 405},
	} {
		if got := httpStatus(t, srv.WSAddr, tc.req); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}

// dial opens a WebSocket with gobwas' client and does the HELLO.
func dial(t *testing.T, url string, hello bool) net.Conn {
	t.Helper()
	c, _, hs, err := gws.Dialer{Protocols: []string{wire.Subprotocol}}.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if hs.Protocol != wire.Subprotocol {
		t.Fatalf("subprotocol %q", hs.Protocol)
	}
	if hello {
		send(t, c, wire.AppendHello(nil, &wire.Hello{Version: wire.Version}))
		if f := recvFrame(t, c); f.Type != wire.TypeWelcome {
			t.Fatalf("got %v", f.Type)
		}
	}
	return c
}

func send(t *testing.T, c net.Conn, p []byte) {
	t.Helper()
	if err := wsutil.WriteClientBinary(c, p); err != nil {
		t.Fatal(err)
	}
}

func recvFrame(t *testing.T, c net.Conn) wire.Frame {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	p, op, err := wsutil.ReadServerData(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if op != gws.OpBinary {
		t.Fatalf("opcode %v", op)
	}
	var f wire.Frame
	if n, err := wire.Decode(p, &f, wire.DefaultMaxFrame); err != nil || n != len(p) {
		t.Fatalf("message is not one frame: n=%d len=%d err=%v", n, len(p), err)
	}
	return f
}

// closeCode reads until the server's close frame and returns its code.
func closeCode(t *testing.T, c net.Conn) gws.StatusCode {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	for {
		h, err := gws.ReadHeader(c)
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c, p); err != nil {
			t.Fatal(err)
		}
		if h.OpCode == gws.OpClose {
			code, _ := gws.ParseCloseFrameData(p)
			return code
		}
	}
}

func TestBadMessages(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{
		Broker: broker.Options{MaxPayload: 1024},
		Engine: adapters.Options{MaxFrame: 2048},
	})
	t.Run("text message", func(t *testing.T) {
		c := dial(t, srv.WSURL, true)
		wsutil.WriteClientText(c, []byte("hello"))
		if code := closeCode(t, c); code != gws.StatusUnsupportedData {
			t.Fatalf("close code %d", code)
		}
	})
	t.Run("oversized message", func(t *testing.T) {
		c := dial(t, srv.WSURL, true)
		send(t, c, make([]byte, 4096))
		if code := closeCode(t, c); code != gws.StatusMessageTooBig {
			t.Fatalf("close code %d", code)
		}
	})
	t.Run("two frames in one message", func(t *testing.T) {
		c := dial(t, srv.WSURL, true)
		send(t, c, wire.AppendPing(wire.AppendPing(nil)))
		f := recvFrame(t, c)
		if f.Type != wire.TypeErr || f.Code != wire.CodeProtocol || !f.Flags.Has(wire.FlagFatal) {
			t.Fatalf("got %v code %v", f.Type, f.Code)
		}
	})
	t.Run("fragmented message is reassembled", func(t *testing.T) {
		c := dial(t, srv.WSURL, false)
		hello := wire.AppendHello(nil, &wire.Hello{Version: wire.Version, Name: "fragments"})
		half := len(hello) / 2
		for i, part := range [][]byte{hello[:half], hello[half:]} {
			op := gws.OpBinary
			if i > 0 {
				op = gws.OpContinuation
			}
			fr := gws.MaskFrame(gws.NewFrame(op, i == 1, append([]byte(nil), part...)))
			if err := gws.WriteFrame(c, fr); err != nil {
				t.Fatal(err)
			}
		}
		if f := recvFrame(t, c); f.Type != wire.TypeWelcome {
			t.Fatalf("got %v", f.Type)
		}
	})
	t.Run("unmasked client message", func(t *testing.T) {
		c := dial(t, srv.WSURL, true)
		gws.WriteFrame(c, gws.NewBinaryFrame(wire.AppendPing(nil)))
		if code := closeCode(t, c); code != gws.StatusProtocolError {
			t.Fatalf("close code %d", code)
		}
	})
	t.Run("messages with 7- and 16-bit lengths arriving a byte at a time", func(t *testing.T) {
		c := dial(t, srv.WSURL, true)
		send(t, c, wire.AppendSub(nil, 1, "slow.bytes", ""))
		for _, size := range []int{10, 125, 126, 300, 1000} {
			payload := []byte(strings.Repeat("p", size))
			var frame strings.Builder
			gws.WriteFrame(&frame, gws.MaskFrame(gws.NewBinaryFrame(wire.AppendPub(nil, "slow.bytes", "", nil, payload, false, 0))))
			for _, b := range []byte(frame.String()) {
				if _, err := c.Write([]byte{b}); err != nil {
					t.Fatal(err)
				}
			}
			f := recvFrame(t, c)
			if f.Type != wire.TypeMsg || string(f.Payload) != string(payload) {
				t.Fatalf("size %d: got %v with %d bytes", size, f.Type, len(f.Payload))
			}
		}
	})
	t.Run("websocket ping answered", func(t *testing.T) {
		c := dial(t, srv.WSURL, true)
		gws.WriteFrame(c, gws.MaskFrame(gws.NewPingFrame([]byte("hi"))))
		c.SetReadDeadline(time.Now().Add(wait))
		h, err := gws.ReadHeader(c)
		if err != nil || h.OpCode != gws.OpPong {
			t.Fatalf("got %v %v", h.OpCode, err)
		}
	})
	// Every bad client above harmed only itself.
	good := dial(t, srv.WSURL, true)
	send(t, good, wire.AppendPing(nil))
	if f := recvFrame(t, good); f.Type != wire.TypePong {
		t.Fatalf("got %v", f.Type)
	}
}

// An independent WebSocket implementation (golang.org/x/net/websocket)
// speaks to the adapter: it is standard RFC 6455, not gobwas talking to
// gobwas.
func TestInteropWithXNetWebSocket(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	cfg, err := xws.NewConfig(srv.WSURL, "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = []string{wire.Subprotocol}
	c, err := xws.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	recv := func() wire.Frame {
		var p []byte
		if err := xws.Message.Receive(c, &p); err != nil {
			t.Fatal(err)
		}
		var f wire.Frame
		if _, err := wire.Decode(p, &f, wire.DefaultMaxFrame); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, p := range [][]byte{
		wire.AppendHello(nil, &wire.Hello{Version: wire.Version, Name: "x/net"}),
		wire.AppendSub(nil, 7, "interop.>", ""),
		wire.AppendPub(nil, "interop.hello", "", nil, []byte("from x/net"), false, 1),
	} {
		if err := xws.Message.Send(c, p); err != nil { // []byte: a binary message
			t.Fatal(err)
		}
	}
	if f := recv(); f.Type != wire.TypeWelcome {
		t.Fatalf("got %v", f.Type)
	}
	var gotMsg, gotAck bool
	for !gotMsg || !gotAck {
		switch f := recv(); f.Type {
		case wire.TypeMsg:
			if f.SID != 7 || string(f.Payload) != "from x/net" {
				t.Fatalf("MSG sid %d %q", f.SID, f.Payload)
			}
			gotMsg = true
		case wire.TypeAck:
			gotAck = f.AckID == 1 && f.Code == wire.CodeOK
		case wire.TypePing:
		default:
			t.Fatalf("unexpected %v", f.Type)
		}
	}
}
