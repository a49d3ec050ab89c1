package tcp_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker/brokertest"
	"github.com/msgtrans/msgtrans/wire"
)

// Once the engine starts ending a session (EOF, protocol error, STALE, write
// error), queue-group messages go to the other members: Deliver refuses
// them and the broker tries the next member.
func TestQueueGroupSkipsClosingMember(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{WriteTimeout: 3 * time.Second}})
	// Member A: raw client that subscribes, then stops reading and half-closes.
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	var b []byte
	b = wire.AppendHello(b, &wire.Hello{Version: 1})
	b = wire.AppendSub(b, 1, "jobs", "w")
	c.Write(b)
	time.Sleep(100 * time.Millisecond)

	// Member B: in-process.
	var gotB atomic.Int64
	cb, _ := brokertest.NewClient(srv.B, "B", false)
	defer cb.Close()
	cb.QueueSubscribe("jobs", "w", func(*brokertest.Msg) { gotB.Add(1) })
	pub, _ := brokertest.NewClient(srv.B, "pub", false)
	defer pub.Close()

	// Fill A's socket so its writer blocks (well under MaxPending).
	big := make([]byte, 64<<10)
	for range 200 {
		pub.Publish("jobs", big)
	}
	time.Sleep(200 * time.Millisecond)
	c.(*net.TCPConn).CloseWrite() // A's reader sees EOF -> session.stop(nil); writer still blocked
	time.Sleep(200 * time.Millisecond)

	before := gotB.Load()
	const N = 1000
	for range N {
		pub.Publish("jobs", []byte("x"))
	}
	time.Sleep(300 * time.Millisecond)
	got := gotB.Load() - before
	t.Logf("A had already hung up; of %d queue messages published afterwards, B got %d: %d lost", N, got, N-got)
	if got != N {
		t.Errorf("queue group lost %d messages to a member that was already closing", N-got)
	}
}
