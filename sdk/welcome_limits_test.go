package sdk_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

// The broker announces its max frame and dead-peer timeout to a client that
// asks, and the delivery of the largest PUB it accepts (a body of exactly
// max_frame) reaches an SDK subscriber on every transport: the SDK sizes
// its reads from the announcement (max_frame + 4), and that is enough.
func TestLargestLegalPublishIsDelivered(t *testing.T) {
	const maxPayload = 4096
	srv := adapterstest.Start(t, adapterstest.Config{
		Broker: broker.Options{MaxPayload: maxPayload},
		Engine: adapters.Options{PingInterval: 7 * time.Second, DeadPeerTimeout: 15 * time.Second},
	})
	raw, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write(wire.AppendHello(nil, &wire.Hello{Name: "raw", WantLimits: true}))
	r := wire.NewReader(raw, 0)
	var f wire.Frame
	raw.SetReadDeadline(time.Now().Add(wait))
	if err := r.Next(&f); err != nil || f.Type != wire.TypeWelcome {
		t.Fatalf("handshake: %v %v", f.Type, err)
	}
	maxFrame := int(f.Welcome.MaxFrame)
	if maxFrame != maxPayload+64<<10 || f.Welcome.DeadPeerMS != 15000 || f.Welcome.HeartbeatMS != 7000 {
		t.Fatalf("welcome announces max frame %d, dead peer %d ms, heartbeat %d ms", maxFrame, f.Welcome.DeadPeerMS, f.Welcome.HeartbeatMS)
	}

	// A PUB whose body is exactly max_frame: the header value fills what
	// the topic and the largest payload leave.
	payload := bytes.Repeat([]byte{'p'}, maxPayload)
	const topic = "big.x"
	fill := maxFrame - (2 + len(topic)) - 4 - maxPayload - (2 + 2 + 1 + 2)
	hdr := wire.AppendHeader(nil, map[string][]string{"k": {strings.Repeat("v", fill)}})
	pub := wire.AppendPub(nil, topic, "", hdr, payload, false, 0)
	if body := len(pub) - wire.HeaderLen; body != maxFrame {
		t.Fatalf("test PUB body is %d bytes, want %d", body, maxFrame)
	}

	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			sub := dialTransport(t, srv, tr)
			got := make(chan *sdk.Msg, 1)
			if _, err := sub.Subscribe("big.>", func(m *sdk.Msg) { got <- m }); err != nil {
				t.Fatal(err)
			}
			flush(t, sub)
			if _, err := raw.Write(pub); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-got:
				if !bytes.Equal(m.Data, payload) || len(m.Header.Get("k")) != fill {
					t.Fatalf("delivered %d bytes, header of %d", len(m.Data), len(m.Header.Get("k")))
				}
			case <-time.After(wait):
				t.Fatalf("the largest legal publish was not delivered (subscriber: %v)", sub.LastError())
			}
			if sub.IsClosed() {
				t.Fatal("subscriber closed")
			}
		})
	}
}

// The SDK applies the announced limit: a server that announces a max frame
// and then sends a larger frame loses the connection instead of making the
// client allocate what it declares.
func TestSDKAppliesAnnouncedReadLimit(t *testing.T) {
	url := oneClientServer(t, func(c net.Conn) {
		defer c.Close()
		r := wire.NewReader(c, 0)
		var f wire.Frame
		if r.Next(&f) != nil || !f.Hello.WantLimits {
			return // the SDK did not ask for the limits: Connect fails
		}
		c.Write(wire.AppendWelcome(nil, &wire.Welcome{ServerID: "small", MaxPayload: 100, HeartbeatMS: 30000, MaxFrame: 1000, DeadPeerMS: 60000}))
		for r.Next(&f) == nil {
			if f.Type == wire.TypeSub {
				// 1004 bytes fit (max_frame + 4); 1005 do not.
				ok := wire.AppendMsg(nil, 0, f.SID, []byte("t"), nil, nil, make([]byte, 1004-4-3))
				big := wire.AppendMsg(nil, 0, f.SID, []byte("t"), nil, nil, make([]byte, 1005-4-3))
				c.Write(append(ok, big...))
			}
		}
	})
	c, err := sdk.Connect(url, sdk.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan int, 2)
	if _, err := c.Subscribe("t", func(m *sdk.Msg) { got <- len(m.Data) }); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != 997 {
			t.Fatalf("first message of %d bytes", n)
		}
	case <-time.After(wait):
		t.Fatal("the frame of max_frame + 4 bytes was not delivered")
	}
	deadline := time.Now().Add(wait)
	for !c.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !c.IsClosed() {
		t.Fatal("the connection survived a frame over the announced limit")
	}
	select {
	case n := <-got:
		t.Fatalf("a frame over the limit was delivered (%d bytes)", n)
	default:
	}
}
