package broker_test

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/msgtrans/msgtrans/broker"
)

// bufConn is what a native adapter does with a delivery, minus the socket:
// append it to an outbound buffer under a lock. The buffer is recycled so
// the benchmark measures the broker, not memory growth.
type bufConn struct {
	mu  sync.Mutex
	buf []byte
}

func (c *bufConn) Deliver(_ uint32, d *broker.Message) (int, bool) {
	c.mu.Lock()
	if len(c.buf) > 1<<20 {
		c.buf = c.buf[:0]
	}
	c.buf = append(c.buf, d.Topic...)
	c.buf = append(c.buf, d.Payload...)
	c.mu.Unlock()
	return 0, true // nothing stays pending: this "writer" always keeps up
}
func (c *bufConn) Ack(uint64, error)    {}
func (c *bufConn) Close(error)          {}
func (c *bufConn) Revoke(uint32, error) {}

func BenchmarkPublish(b *testing.B) {
	payload := make([]byte, 16)
	for _, subs := range []int{0, 1, 10, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			br := newBroker(b, broker.Options{})
			for i := range subs {
				s, err := br.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "bench"}}, broker.Credentials{}, &bufConn{buf: make([]byte, 0, 2<<20)})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Subscribe(uint32(i+1), "bench.topic", broker.SubOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			pub, err := br.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "bench"}}, broker.Credentials{}, &bufConn{})
			if err != nil {
				b.Fatal(err)
			}
			m := &broker.Message{Topic: []byte("bench.topic"), Payload: payload}
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if err := pub.Publish(m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*max(subs, 1))/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

func BenchmarkPublishQueueGroup(b *testing.B) {
	br := newBroker(b, broker.Options{})
	for i := range 10 {
		s, _ := br.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "bench"}}, broker.Credentials{}, &bufConn{buf: make([]byte, 0, 2<<20)})
		s.Subscribe(uint32(i+1), "bench.*", broker.SubOptions{Queue: "workers"})
	}
	pub, _ := br.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "bench"}}, broker.Credentials{}, &bufConn{})
	m := &broker.Message{Topic: []byte("bench.topic"), Payload: make([]byte, 16)}
	b.ReportAllocs()
	for b.Loop() {
		pub.Publish(m)
	}
}

// BenchmarkParallelPublish: publishers on every core, each to a topic of
// its own with one subscriber of its own, so nothing but the broker's
// shared structures (the trie's lock and cache, the broker's counters) is
// shared. Run with -cpu 1,2,... to see how throughput scales with cores.
func BenchmarkParallelPublish(b *testing.B) {
	br := newBroker(b, broker.Options{})
	payload := make([]byte, 16)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1)
		topic := []byte("bench.parallel." + strconv.FormatInt(i, 10))
		sub, err := br.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "bench"}}, broker.Credentials{}, &bufConn{buf: make([]byte, 0, 2<<20)})
		if err != nil {
			b.Error(err)
			return
		}
		if err := sub.Subscribe(1, string(topic), broker.SubOptions{}); err != nil {
			b.Error(err)
			return
		}
		pub, err := br.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "bench"}}, broker.Credentials{}, &bufConn{})
		if err != nil {
			b.Error(err)
			return
		}
		m := &broker.Message{Topic: topic, Payload: payload}
		for pb.Next() {
			if err := pub.Publish(m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkSubscribeBeside10kSubs is one SUB and UNSUB by a session that
// already holds 10,000 subscriptions to distinct topics: the price of
// counting the ones a new filter overlaps (MaxSubscriptionsPerTopic).
//
// With 10,000 wildcard subscriptions ("dev.N.*", which overlap nothing of
// each other), every new one is checked against each of them: the cost
// of a subscribe grows with the session's wildcards (issue 14, what is
// left).
func BenchmarkSubscribeBeside10kSubs(b *testing.B) {
	for _, c := range []struct{ held, filter string }{
		{"dev.%d.state", "dev.77.state"}, {"dev.%d.state", "dev.*.state"}, {"dev.%d.*", "dev.77.*"},
	} {
		b.Run(c.held+"/"+c.filter, func(b *testing.B) {
			br, _ := broker.New(broker.Options{})
			defer br.Close()
			s, _ := br.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "bench"}}, broker.Credentials{}, &bufConn{})
			filter := c.filter
			for i := range 10000 {
				if err := s.Subscribe(uint32(i+1), fmt.Sprintf(c.held, i), broker.SubOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if err := s.Subscribe(20000, filter, broker.SubOptions{Retained: broker.RetainNever}); err != nil {
					b.Fatal(err)
				}
				if err := s.Unsubscribe(20000, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
