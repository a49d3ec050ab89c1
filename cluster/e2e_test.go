package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/sdk"
)

// The end-to-end tests run real broker processes (cmd/broker, built once)
// against a real redis-server, and talk to them with the SDK over TCP and
// WebSocket on loopback.

var (
	buildOnce sync.Once
	brokerBin string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if brokerBin != "" {
		os.RemoveAll(filepath.Dir(brokerBin))
	}
	os.Exit(code)
}

func buildBroker(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "msgtrans-cluster-test")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(dir, "broker")
		if out, err := exec.Command("go", "build", "-o", bin, "../cmd/broker").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ../cmd/broker: %v\n%s", err, out)
			return
		}
		brokerBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return brokerBin
}

const testNodeTimeout = time.Second

// brokerNode is one broker process of the cluster.
type brokerNode struct {
	t             *testing.T
	name          string
	tcpURL, wsURL string
	proc          *testproc.Proc
}

func startBroker(t *testing.T, r *redisServer, name string) *brokerNode {
	t.Helper()
	bin := buildBroker(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf("cluster:\n  url: %s\n  name: %s\n  node_timeout: %v\n", r.url(), name, testNodeTimeout)
	cfgPath := filepath.Join(dir, "broker.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tcp, ws := testproc.FreePort(t), testproc.FreePort(t)
	n := &brokerNode{t: t, name: name, tcpURL: "tcp://" + tcp, wsURL: "ws://" + ws + "/ws"}
	n.proc = testproc.Start(t, bin, "--config", cfgPath, "--tcp", tcp, "--ws", ws, "--quic", "", "--http", "", "--mqtt", "",
		"--data-dir", filepath.Join(dir, "data"), "--log-format", "json")
	n.proc.WaitTCP(tcp, 20*time.Second)
	n.proc.WaitLine(0, 10*time.Second, "linked to redis")
	return n
}

func (n *brokerNode) connect(url string) *sdk.Conn {
	n.t.Helper()
	c, err := sdk.Connect(url, sdk.Name(n.name), sdk.SubPendingLimits(1<<20, 1<<30), sdk.MaxReconnects(0))
	if err != nil {
		n.t.Fatalf("connect to %s: %v", n.name, err)
	}
	n.t.Cleanup(func() { c.Close() })
	return c
}

// inbox collects the messages of one subscription, probes aside.
type inbox struct {
	mu   sync.Mutex
	msgs []*sdk.Msg
	more chan struct{}
}

func newInbox() *inbox { return &inbox{more: make(chan struct{}, 1)} }

func (b *inbox) cb(m *sdk.Msg) {
	if strings.HasPrefix(string(m.Data), "probe") {
		return
	}
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	select {
	case b.more <- struct{}{}:
	default:
	}
}

func (b *inbox) all() []*sdk.Msg {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*sdk.Msg(nil), b.msgs...)
}

// wait waits until n messages are in.
func (b *inbox) wait(t *testing.T, n int) []*sdk.Msg {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if got := b.all(); len(got) >= n {
			return got
		}
		select {
		case <-b.more:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", len(b.all()), n)
		}
	}
}

// probed subscribes a probe catcher and waits until a publish from pub on
// topic reaches it: then the publisher's node knows the interest of the
// catcher's node in topic (interest travels through Redis).
func waitRoute(t *testing.T, pub, sub *sdk.Conn, topic string) {
	t.Helper()
	got := make(chan struct{}, 1)
	s, err := sub.Subscribe(topic, func(m *sdk.Msg) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unsubscribe()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := pub.Publish(topic, []byte("probe")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no route to %s after 10s", topic)
}

func TestThreeNodes(t *testing.T) {
	r := startRedis(t, "--client-output-buffer-limit", "pubsub 4mb 2mb 1")
	n1, n2, n3 := startBroker(t, r, "n1"), startBroker(t, r, "n2"), startBroker(t, r, "n3")
	c1, c2, c3 := n1.connect(n1.tcpURL), n2.connect(n2.tcpURL), n3.connect(n3.wsURL)

	t.Run("wildcards across nodes, TCP and WebSocket", func(t *testing.T) {
		created, all := newInbox(), newInbox()
		if _, err := c2.Subscribe("orders.*.created", created.cb); err != nil {
			t.Fatal(err)
		}
		if _, err := c3.Subscribe("orders.>", all.cb); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, c1, c2, "orders.probe.created")
		waitRoute(t, c1, c3, "orders.probe")
		const n = 200
		for i := range n {
			if err := c1.Publish("orders.eu.created", fmt.Appendf(nil, "%d", i)); err != nil {
				t.Fatal(err)
			}
			if err := c1.Publish("orders.eu.shipped", fmt.Appendf(nil, "s%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		// From the WebSocket client on n3 to the TCP client on n2.
		if err := c3.Publish("orders.us.created", []byte("from ws")); err != nil {
			t.Fatal(err)
		}
		// Two publishers: each one's messages in order, no order between them.
		got := created.wait(t, n+1)
		next, ws := 0, 0
		for _, m := range got {
			switch {
			case m.Topic == "orders.eu.created" && string(m.Data) == fmt.Sprint(next):
				next++
			case m.Topic == "orders.us.created" && string(m.Data) == "from ws":
				ws++
			default:
				t.Fatalf("n2 got %s %q after %d in order (out of order or wrong topic)", m.Topic, m.Data, next)
			}
		}
		if next != n || ws != 1 {
			t.Fatalf("n2 got %d of n2's %d and %d from the WebSocket client", next, n, ws)
		}
		gotAll := all.wait(t, 2*n+1)
		var created3, shipped3 int
		for _, m := range gotAll {
			switch {
			case m.Topic == "orders.eu.created" && string(m.Data) == fmt.Sprint(created3):
				created3++
			case m.Topic == "orders.eu.shipped" && string(m.Data) == fmt.Sprintf("s%d", shipped3):
				shipped3++
			case m.Topic == "orders.us.created":
			default:
				t.Fatalf("n3 got %s %q out of order", m.Topic, m.Data)
			}
		}
		time.Sleep(100 * time.Millisecond)
		if extra := len(created.all()) - (n + 1); extra != 0 {
			t.Fatalf("n2 got %d messages its filter does not match", extra)
		}
	})

	t.Run("a node receives only what its subscribers match", func(t *testing.T) {
		// Listen on n2's own channel in Redis: what the backplane sends it.
		ps := r.client(t).Subscribe(context.Background(), "msgtrans:msgs:n2")
		defer ps.Close()
		if _, err := ps.Receive(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			c1.Publish("orders.eu.shipped", fmt.Appendf(nil, "x%d", i)) // n3 only
			c1.Publish("invoices.x", nil)                               // nobody
		}
		c1.Publish("orders.eu.created", []byte("last")) // n2 (and n3)
		for {
			msg, err := ps.ReceiveMessage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			bt, err := readBatch([]byte(msg.Payload))
			if err != nil {
				t.Fatal(err)
			}
			var rec broker.Message
			var groups []broker.QueueGroup
			for bt.next(&rec, &groups) {
				if string(rec.Topic) != "orders.eu.created" {
					t.Fatalf("n2's channel carried %s, which nobody on n2 wants", rec.Topic)
				}
				if string(rec.Payload) == "last" {
					return
				}
			}
		}
	})

	t.Run("queue group: exactly one member across nodes", func(t *testing.T) {
		var mu sync.Mutex
		seen := map[string]int{}
		per := map[string]int{}
		member := func(node string) func(*sdk.Msg) {
			return func(m *sdk.Msg) {
				if strings.HasPrefix(string(m.Data), "probe") {
					return
				}
				mu.Lock()
				seen[string(m.Data)]++
				per[node]++
				mu.Unlock()
			}
		}
		for node, c := range map[string]*sdk.Conn{"n1": c1, "n2": c2, "n3": c3} {
			if _, err := c.QueueSubscribe("jobs.*", "workers", member(node)); err != nil {
				t.Fatal(err)
			}
		}
		// Every node's member must be known on n1 before counting.
		waitRoute(t, c1, c2, "jobs.probe")
		waitRoute(t, c1, c3, "jobs.probe")
		const n = 600
		for i := range n {
			c1.Publish("jobs.resize", fmt.Appendf(nil, "%d", i))
		}
		if err := c1.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			done := len(seen) == n
			mu.Unlock()
			if done || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // a duplicate would arrive by now
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != n {
			t.Fatalf("%d of %d jobs delivered", len(seen), n)
		}
		for job, k := range seen {
			if k != 1 {
				t.Fatalf("job %s delivered %d times", job, k)
			}
		}
		for _, node := range []string{"n1", "n2", "n3"} {
			if per[node] == 0 {
				t.Fatalf("the member on %s got nothing: %v", node, per)
			}
		}
	})

	t.Run("request-reply and no responders", func(t *testing.T) {
		if _, err := c3.Subscribe("svc.echo", func(m *sdk.Msg) { m.Respond(append([]byte("echo "), m.Data...)) }); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, c1, c3, "svc.echo")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rep, err := c1.Request(ctx, "svc.echo", []byte("hi"))
		if err != nil || string(rep.Data) != "echo hi" {
			t.Fatalf("reply %v, %v", rep, err)
		}
		start := time.Now()
		if _, err := c1.Request(ctx, "svc.nobody", nil); !errors.Is(err, sdk.ErrNoResponders) {
			t.Fatalf("request nobody anywhere serves: %v, want no responders", err)
		}
		t.Logf("no responders after %v", time.Since(start))
	})

	t.Run("retained messages shared by all nodes", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c1.PublishAck(ctx, &sdk.Msg{Topic: "cfg.eu.limits", Data: []byte("42"), Retain: true}); err != nil {
			t.Fatal(err)
		}
		// Acknowledged: it is in Redis, where every node reads it.
		if n, err := r.client(t).HExists(ctx, "msgtrans:retained", "cfg.eu.limits").Result(); err != nil || !n {
			t.Fatalf("the acknowledged retained message is not in redis: %v %v", n, err)
		}
		for _, c := range []*sdk.Conn{c2, c3} {
			sub, err := c.SubscribeSync("cfg.*.limits")
			if err != nil {
				t.Fatal(err)
			}
			m, err := sub.NextMsg(ctx)
			if err != nil || string(m.Data) != "42" || !m.Retain {
				t.Fatalf("retained replay on another node: %+v %v", m, err)
			}
			sub.Unsubscribe()
		}
		// An empty retained publish deletes it for everyone.
		if err := c2.PublishAck(ctx, &sdk.Msg{Topic: "cfg.eu.limits", Retain: true}); err != nil {
			t.Fatal(err)
		}
		if n, _ := r.client(t).HExists(ctx, "msgtrans:retained", "cfg.eu.limits").Result(); n {
			t.Fatal("deleted retained message still in redis")
		}
	})

	t.Run("a stopped node does not stall the others", func(t *testing.T) {
		fast, slow := newInbox(), newInbox()
		if _, err := c2.Subscribe("load.>", fast.cb); err != nil {
			t.Fatal(err)
		}
		if _, err := c3.Subscribe("load.>", slow.cb); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, c1, c2, "load.probe")
		waitRoute(t, c1, c3, "load.probe")
		// n3 stops reading: Redis buffers its share up to its pubsub
		// limit (4mb here), then cuts it off. n1 and n2 go on.
		syscall.Kill(n3.proc.Pid(), syscall.SIGSTOP)
		defer syscall.Kill(n3.proc.Pid(), syscall.SIGCONT)
		payload := make([]byte, 1024)
		const n = 20000
		for i := range n {
			copy(payload, fmt.Sprintf("%08d", i))
			if err := c1.Publish("load.x", payload); err != nil {
				t.Fatal(err)
			}
		}
		got := fast.wait(t, n)
		for i, m := range got {
			if want := fmt.Sprintf("%08d", i); string(m.Data[:8]) != want {
				t.Fatalf("n2 message %d is %s", i, m.Data[:8])
			}
		}
		// n3 comes back: it reconnects, resynchronizes, and gets traffic.
		from := len(n3.proc.Lines())
		syscall.Kill(n3.proc.Pid(), syscall.SIGCONT)
		n3.proc.WaitLine(from, 15*time.Second, "linked to redis")
		waitRoute(t, c1, c3, "load.again")
	})

	t.Run("a node killed with -9 leaves within the node timeout", func(t *testing.T) {
		var mu sync.Mutex
		per := map[string]int{}
		for node, c := range map[string]*sdk.Conn{"n1": c1, "n3": c3} {
			node := node
			c.QueueSubscribe("tasks", "crew", func(m *sdk.Msg) {
				if string(m.Data) == "probe" {
					return
				}
				mu.Lock()
				per[node]++
				mu.Unlock()
			})
		}
		waitRoute(t, c1, c3, "tasks")
		from := len(n1.proc.Lines())
		n3.proc.Kill()
		// Bounded: the node timeout and a heartbeat period for the check
		// (a second more for a loaded machine; three in all).
		n1.proc.WaitLine(from, 3*testNodeTimeout, "node left", `"node":"n3"`)
		for i := range 100 {
			c1.Publish("tasks", fmt.Appendf(nil, "%d", i))
		}
		c1.Flush(context.Background())
		waitForT(t, "n1's member to get all 100", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return per["n1"] == 100
		})
		// And a request to a topic only the dead node served: no responders.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c1.Request(ctx, "svc.echo", nil); !errors.Is(err, sdk.ErrNoResponders) {
			t.Fatalf("request to the dead node's service: %v", err)
		}
	})
}

func waitForT(t *testing.T, what string, cond func() bool) { t.Helper(); waitFor(t, what, cond) }

func TestRedisRestart(t *testing.T) {
	r := startRedis(t)
	n1, n2 := startBroker(t, r, "n1"), startBroker(t, r, "n2")
	c1, c2 := n1.connect(n1.tcpURL), n2.connect(n2.wsURL)
	remote, local := newInbox(), newInbox()
	if _, err := c2.Subscribe("feed.>", remote.cb); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Subscribe("feed.>", local.cb); err != nil {
		t.Fatal(err)
	}
	waitRoute(t, c1, c2, "feed.probe")
	c1.Publish("feed.a", []byte("before"))
	remote.wait(t, 1)
	local.wait(t, 1)

	r.proc.Kill()
	n1.proc.WaitLine(0, 10*time.Second, "lost redis")
	// Redis is down: n1 serves its own clients, new subscriptions included
	// (they go live without retained messages).
	c1.Publish("feed.a", []byte("during"))
	if got := local.wait(t, 2); string(got[1].Data) != "during" {
		t.Fatalf("local delivery while redis is down: %q", got[1].Data)
	}
	fresh := newInbox()
	if _, err := c1.Subscribe("fresh.>", fresh.cb); err != nil {
		t.Fatalf("subscribe while redis is down: %v", err)
	}
	c1.Publish("fresh.x", []byte("new"))
	fresh.wait(t, 1)

	// Redis back, empty (no persistence): both nodes reconnect and
	// announce their interest again, without a restart.
	from1, from2 := len(n1.proc.Lines()), len(n2.proc.Lines())
	r.start()
	n1.proc.WaitLine(from1, 15*time.Second, "linked to redis")
	n2.proc.WaitLine(from2, 15*time.Second, "linked to redis")
	waitRoute(t, c1, c2, "feed.probe")
	c1.Publish("feed.a", []byte("after"))
	// "during" was forwarded while Redis was down: it is dropped (and
	// counted) or, if Redis came back within the write's timeout,
	// delivered late; either way before "after".
	waitFor(t, `"after" on n2`, func() bool {
		got := remote.all()
		return string(got[len(got)-1].Data) == "after"
	})
}
