package cluster

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
)

// Two nodes in this process over a real Redis: a subscription on one is
// known to the other, and a publish reaches it in order.
func TestBackplaneInProcess(t *testing.T) {
	r := startRedis(t)
	a := startNode(t, r, "a", Options{})
	b := startNode(t, r, "b", Options{})
	got := &collector{}
	if _, err := client(t, b.b, "sub").Subscribe("x.*", got.cb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to learn b's interest", func() bool { return a.bp.peers.interestOf("b") == 1 })
	pub := client(t, a.b, "pub")
	const n = 1000
	for i := range n {
		pub.Publish("x.y", []byte(fmt.Sprint(i)))
	}
	waitFor(t, "all messages", func() bool { return got.len() == n })
	for i, m := range got.all() {
		if string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: out of order", i, m.Payload)
		}
	}
	st := a.bp.Stats()
	if st.MsgsOut != n || st.BatchesOut == 0 || st.BatchesOut > n {
		t.Fatalf("a's stats %+v", st)
	}
	t.Logf("%d messages in %d batches", st.MsgsOut, st.BatchesOut)
}

// A publish acked in a cluster has reached Redis; with Redis stopped the
// ack says the forward failed, the publisher is never held up, and what
// does not fit a node's queue is dropped and counted.
func TestAckAndDropsWhenRedisStalls(t *testing.T) {
	r := startRedis(t)
	a := startNode(t, r, "a", Options{MaxPending: 64 << 10, NodeTimeout: 2 * time.Second})
	b := startNode(t, r, "b", Options{NodeTimeout: 2 * time.Second})
	got := &collector{}
	client(t, b.b, "sub").Subscribe("x", got.cb)
	waitFor(t, "a to learn b's interest", func() bool { return a.bp.peers.interestOf("b") == 1 })
	pub := client(t, a.b, "pub")
	acks := make(chan error, 1)
	pub.PublishMsg(&broker.Message{Topic: []byte("x"), Payload: []byte("1")}, func(err error) { acks <- err })
	if err := <-acks; err != nil {
		t.Fatalf("ack: %v", err)
	}
	waitFor(t, "b to get it", func() bool { return got.len() == 1 })

	syscall.Kill(r.proc.Pid(), syscall.SIGSTOP)
	defer syscall.Kill(r.proc.Pid(), syscall.SIGCONT)
	start := time.Now()
	payload := make([]byte, 1024)
	for range 1000 { // 1MB for b, its queue holds 64KiB
		pub.Publish("x", payload)
	}
	pub.PublishMsg(&broker.Message{Topic: []byte("x"), Payload: payload}, func(err error) { acks <- err })
	if took := time.Since(start); took > time.Second {
		t.Fatalf("publishing took %v with redis stopped: the publisher waited", took)
	}
	if d := a.bp.Stats().Dropped; d == 0 {
		t.Fatal("nothing dropped beyond the queue's limit")
	}
	if err := <-acks; !errors.Is(err, broker.ErrForward) {
		t.Fatalf("ack with redis stopped: %v", err)
	}
	waitFor(t, "a to report the link down", func() bool { return a.bp.Err() != nil })
	syscall.Kill(r.proc.Pid(), syscall.SIGCONT)
	waitFor(t, "a to link again", func() bool { return a.bp.Err() == nil })
	if a.bp.Stats().Reconnects == 0 {
		t.Fatal("no reconnect counted")
	}
}

// BenchmarkCrossNode publishes on one node to a subscriber on another,
// both in this process, through a real redis-server: the backplane's own
// cost (encode, batch, PUBLISH, receive, decode, deliver), and how many
// messages share one PUBLISH.
func BenchmarkCrossNode(b *testing.B) {
	r := startRedis(b)
	a := startNode(b, r, "a", Options{MaxPending: 64 << 20})
	c := startNode(b, r, "c", Options{})
	var got atomic.Int64
	sub, err := brokertest.NewClient(c.b, "sub", false)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	sub.Subscribe("bench", func(*brokertest.Msg) { got.Add(1) })
	for a.bp.peers.interestOf("c") != 1 {
		time.Sleep(time.Millisecond)
	}
	pub, err := brokertest.NewClient(a.b, "pub", false)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	payload := make([]byte, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pub.Publish("bench", payload)
	}
	for got.Load() < int64(b.N) && a.bp.Stats().Dropped == 0 {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	st := a.bp.Stats()
	if st.Dropped > 0 {
		b.Fatalf("%d dropped", st.Dropped)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(st.MsgsOut)/float64(max(st.BatchesOut, 1)), "msgs/PUBLISH")
}

// A node that stops says goodbye: the others drop it at once, not after
// the node timeout.
func TestLeaveIsSeenAtOnce(t *testing.T) {
	r := startRedis(t)
	opts := Options{NodeTimeout: time.Minute}
	a := startNode(t, r, "a", opts)
	b := startNode(t, r, "b", opts)
	client(t, b.b, "sub").Subscribe("x", func(*brokertest.Msg) {})
	waitFor(t, "a to learn b's interest", func() bool { return a.bp.peers.interestOf("b") == 1 })
	b.stop()
	waitFor(t, "a to drop b", func() bool { return a.bp.peers.interestOf("b") == -1 })
	if n, _ := r.client(t).Exists(t.Context(), "msgtrans:interest:b").Result(); n != 0 {
		t.Fatal("b's interest is still in redis after it left")
	}
}

// Two nodes under one name: the one whose announcement was overwritten
// reports the clash.
func TestNameClashIsReported(t *testing.T) {
	r := startRedis(t)
	clash := make(chan Event, 16)
	opts := Options{NodeTimeout: 400 * time.Millisecond, OnEvent: func(e Event) {
		if e.Kind == NameClash {
			select {
			case clash <- e:
			default:
			}
		}
	}}
	startNode(t, r, "same", opts)
	startNode(t, r, "same", opts)
	select {
	case e := <-clash:
		if !errors.Is(e.Err, errNameClash) {
			t.Fatalf("clash event %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no name clash reported")
	}
}

// A node with more interest than one HSCAN page is read whole by a node
// that joins after it.
func TestLargeInterestIsReadWhole(t *testing.T) {
	r := startRedis(t)
	a := startNode(t, r, "a", Options{})
	c := client(t, a.b, "subs")
	const n = 3000
	for i := range n {
		if _, err := c.Subscribe(fmt.Sprintf("t.%d", i), func(*brokertest.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a's interest in redis", func() bool {
		l, _ := r.client(t).HLen(t.Context(), "msgtrans:interest:a").Result()
		return l == n+2
	})
	b := startNode(t, r, "b", Options{})
	if got := b.bp.peers.interestOf("a"); got != n {
		t.Fatalf("b knows %d of a's %d filters", got, n)
	}
}
