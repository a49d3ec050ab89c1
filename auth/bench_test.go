package auth_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/auth"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
)

// discard is a Conn that takes deliveries like a native adapter's queue,
// minus the socket.
type discard struct {
	mu  sync.Mutex
	buf []byte
}

func (c *discard) Deliver(_ uint32, d *broker.Message) (int, bool) {
	c.mu.Lock()
	if len(c.buf) > 1<<20 {
		c.buf = c.buf[:0]
	}
	c.buf = append(c.buf, d.Topic...)
	c.buf = append(c.buf, d.Payload...)
	c.mu.Unlock()
	return 0, true
}
func (c *discard) Ack(uint64, error)    {}
func (c *discard) Close(error)          {}
func (c *discard) Revoke(uint32, error) {}

// hundredRules is a user with 100 publish and subscribe rules: 90 allowed
// regions and 10 denied subtrees.
func hundredRules() *auth.Permissions {
	var r auth.Rules
	for i := range 90 {
		r.Allow = append(r.Allow, fmt.Sprintf("orders.region%d.>", i))
	}
	for i := range 10 {
		r.Deny = append(r.Deny, fmt.Sprintf("orders.region%d.secret.>", i))
	}
	return &auth.Permissions{Publish: r, Subscribe: r}
}

// BenchmarkPublishPermissions compares the broker's publish path without
// an authorizer (none), with one whose user has no rules (off), and with
// 100 rules, publishing to one topic, and to 1000 distinct allowed topics
// in turn, each with one subscriber (in docs/benchmarks.md).
func BenchmarkPublishPermissions(b *testing.B) {
	for _, n := range []int{1, 1000} {
		topics := make([][]byte, n)
		for i := range topics {
			topics[i] = fmt.Appendf(nil, "orders.region%d.item%d", i%90, i)
		}
		for _, c := range []struct {
			name  string
			perms *auth.Permissions
		}{{"none", nil}, {"off", nil}, {"100rules", hundredRules()}} {
			b.Run(fmt.Sprintf("topics=%d/perms=%s", n, c.name), func(b *testing.B) {
				benchPublish(b, c.name != "none", c.perms, topics)
			})
		}
	}
}

func benchPublish(b *testing.B, authorize bool, perms *auth.Permissions, topics [][]byte) {
	publish := publisher(b, authorize, perms, topics)
	b.ReportAllocs()
	b.SetBytes(16)
	i := 0
	for b.Loop() {
		publish(i)
		i++
	}
}

// publisher starts a broker with a subscriber to every topic and returns a
// function that publishes message i (to topic i mod len(topics)).
func publisher(b *testing.B, authorize bool, perms *auth.Permissions, topics [][]byte) func(i int) {
	a, err := auth.New(auth.Config{Users: []auth.User{{User: "u", Password: "p", Permissions: perms}}}, auth.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var opts broker.Options
	if authorize {
		opts.Authenticator = a
	}
	br, err := broker.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if st := br.Stats(); st.MsgsOut < st.MsgsIn {
			b.Errorf("%d of %d publishes delivered", st.MsgsOut, st.MsgsIn)
		}
		br.Close()
	})
	cred := broker.Credentials{User: "u", Password: "p"}
	sub, err := br.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "bench"}}, cred, &discard{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 90 {
		if err := sub.Subscribe(uint32(i+1), fmt.Sprintf("orders.region%d.*", i), broker.SubOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	pub, err := br.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "bench"}}, cred, &discard{})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 16)
	m := new(broker.Message) // Publish may change it: set every field each time
	return func(i int) {
		*m = broker.Message{Topic: topics[i%len(topics)], Payload: payload}
		if err := pub.Publish(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishPermissionsPaired measures the three cases of
// BenchmarkPublishPermissions side by side in one loop, in alternating
// batches of 1000 publishes, so that whatever else the machine does falls
// on all three alike. It reports each case's ns per publish and the cost
// of the checks relative to no authorizer (rules-%, off-%). One iteration
// is one batch of each.
func BenchmarkPublishPermissionsPaired(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("topics=%d", n), func(b *testing.B) {
			topics := make([][]byte, n)
			for i := range topics {
				topics[i] = fmt.Appendf(nil, "orders.region%d.item%d", i%90, i)
			}
			pubs := []func(int){
				publisher(b, false, nil, topics),
				publisher(b, true, nil, topics),
				publisher(b, true, hundredRules(), topics),
			}
			var spent [3]time.Duration
			const batch = 1000
			round := 0
			for b.Loop() {
				for k := range pubs {
					v := (k + round) % len(pubs) // rotate who goes first
					start := time.Now()
					for i := range batch {
						pubs[v](round*batch + i)
					}
					spent[v] += time.Since(start)
				}
				round++
			}
			per := func(v int) float64 { return float64(spent[v].Nanoseconds()) / float64(round*batch) }
			b.ReportMetric(per(0), "ns/pub-none")
			b.ReportMetric(per(1), "ns/pub-off")
			b.ReportMetric(per(2), "ns/pub-100rules")
			b.ReportMetric(100*(per(1)/per(0)-1), "off-%")
			b.ReportMetric(100*(per(2)/per(0)-1), "rules-%")
		})
	}
}

// BenchmarkMayPublish is the check alone, over the same 1000 topics.
func BenchmarkMayPublish(b *testing.B) {
	a, err := auth.New(auth.Config{Users: []auth.User{{User: "u", Password: "p", Permissions: hundredRules()}}}, auth.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := a.Authenticate(broker.SessionInfo{}, broker.Credentials{User: "u", Password: "p"})
	if err != nil {
		b.Fatal(err)
	}
	topics := make([][]byte, 1000)
	for i := range topics {
		topics[i] = fmt.Appendf(nil, "orders.region%d.item%d", i%90, i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !p.Permissions.MayPublish(topics[i%len(topics)]) {
			b.Fatal("refused")
		}
		i++
	}
}

// BenchmarkPublishPermissionsTCP is the same comparison end to end, as a
// user sees it: an SDK publisher and an SDK subscriber over loopback TCP,
// the time per message from the first publish to the last delivery.
func BenchmarkPublishPermissionsTCP(b *testing.B) {
	for _, n := range []int{1, 1000} {
		topics := make([]string, n)
		for i := range topics {
			topics[i] = fmt.Sprintf("orders.region%d.item%d", i%90, i)
		}
		for _, c := range []struct {
			name  string
			perms *auth.Permissions
		}{{"none", nil}, {"off", nil}, {"100rules", hundredRules()}} {
			b.Run(fmt.Sprintf("topics=%d/perms=%s", n, c.name), func(b *testing.B) {
				a, err := auth.New(auth.Config{Users: []auth.User{{User: "u", Password: "p", Permissions: c.perms}}}, auth.Options{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				var opts broker.Options
				if c.name != "none" {
					opts.Authenticator = auth.NewLive(a)
				}
				srv := adapterstest.Start(b, adapterstest.Config{Broker: opts})
				connect := func() *sdk.Conn {
					nc, err := sdk.Connect(srv.URL, sdk.UserInfo("u", "p"))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { nc.Close() })
					return nc
				}
				sub, pub := connect(), connect()
				var got atomic.Int64
				done := make(chan struct{})
				var want int64
				count := func(*sdk.Msg) {
					if got.Add(1) == want {
						close(done)
					}
				}
				for i := range 90 {
					if _, err := sub.Subscribe(fmt.Sprintf("orders.region%d.>", i), count); err != nil {
						b.Fatal(err)
					}
				}
				ctx := context.Background()
				if err := sub.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				want = int64(b.N)
				payload := make([]byte, 16)
				b.SetBytes(int64(len(payload)))
				b.ResetTimer()
				for i := range b.N {
					if err := pub.Publish(topics[i%n], payload); err != nil {
						b.Fatal(err)
					}
				}
				select {
				case <-done:
				case <-time.After(time.Minute):
					b.Fatalf("%d of %d delivered", got.Load(), b.N)
				}
				b.StopTimer()
			})
		}
	}
}
