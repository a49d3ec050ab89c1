package tcp_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
	"github.com/msgtrans/msgtrans/wire"
)

// write_timeout closes a client whose socket accepts nothing for that long;
// a client that reads steadily but slowly is not cut off, however large its
// backlog.
func TestWriteTimeoutSparesSteadyReader(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{WriteTimeout: time.Second}, Broker: broker.Options{OnEvent: func(e broker.Event) {
		if e.Kind == broker.SessionClosed {
			t.Logf("closed %s: %v", e.Session.Name, e.Reason)
		}
	}}})
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	var b []byte
	b = wire.AppendHello(b, &wire.Hello{Version: 1})
	b = wire.AppendSub(b, 1, "big", "")
	b = wire.AppendPing(b)
	c.Write(b)
	// wait for WELCOME + PONG
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	c.Read(buf)
	time.Sleep(50 * time.Millisecond)

	pub, _ := brokertest.NewClient(srv.B, "pub", false)
	defer pub.Close()
	payload := make([]byte, 64<<10)
	for range 64 { // 4 MiB backlog, well under MaxPending
		pub.Publish("big", payload)
	}
	// Read steadily at ~1 MiB/s: the socket is never idle for a second.
	start := time.Now()
	total := 0
	for {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := io.ReadFull(c, buf[:4096])
		total += n
		if err != nil {
			t.Logf("connection ended after %v having read %d KiB: %v", time.Since(start).Round(time.Millisecond), total>>10, err)
			break
		}
		if total >= 4<<20 {
			t.Logf("read everything")
			return
		}
		time.Sleep(4 * time.Millisecond)
	}
	t.Errorf("a client reading ~1MiB/s without pause was disconnected by write_timeout=1s")
}
