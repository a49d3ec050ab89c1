package tcp_test

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// The frames the broker sends on its own (PONG, ERR, ACK) count against
// MaxPending: a client that floods PINGs and never reads is cut off as a
// slow consumer instead of growing the broker's memory.
func TestClientThatNeverReadsIsCutOff(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxPending: 1 << 20}})
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	c.Write(wire.AppendHello(nil, &wire.Hello{Version: 1}))
	// bad-topic PUB: "a..b" -> non-fatal ERR with text, per frame
	var chunk []byte
	for range 4096 {
		chunk = wire.AppendPing(chunk)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	deadline := time.Now().Add(4 * time.Second)
	sent := 0
	for time.Now().Before(deadline) {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := c.Write(chunk)
		sent += n
		if err != nil {
			t.Logf("write: %v", err)
			break
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("client sent %d MiB of PINGs without reading; broker MaxPending=1MiB; heap in use grew %d MiB (HeapInuse %d MiB); session still open: %v",
		sent>>20, (int64(after.HeapInuse)-int64(before.HeapInuse))>>20, after.HeapInuse>>20, srv.B.Stats().Connections == 1)
	if int64(after.HeapInuse)-int64(before.HeapInuse) > 8<<20 {
		t.Errorf("outbound buffer grew past MaxPending without the client being cut off")
	}
}
