package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
	"github.com/msgtrans/msgtrans/internal/testproc"
)

// redisServer is a real redis-server on a free loopback port, with no
// persistence unless args ask for it.
type redisServer struct {
	addr string
	args []string
	dir  string // kept across restarts, for persistence
	proc *testproc.Proc
	t    testing.TB
}

func startRedis(t testing.TB, args ...string) *redisServer {
	t.Helper()
	r := &redisServer{addr: testproc.FreePort(t), args: args, t: t, dir: t.TempDir()}
	r.start()
	return r
}

func (r *redisServer) start() {
	r.t.Helper()
	_, port, _ := splitHostPort(r.addr)
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir}, r.args...)
	r.proc = testproc.Start(r.t, testproc.Need(r.t, "redis-server"), args...)
	r.proc.WaitTCP(r.addr, 10*time.Second)
}

func (r *redisServer) url() string { return "redis://" + r.addr + "/0" }

func (r *redisServer) client(t testing.TB) *redis.Client {
	opt, err := redis.ParseURL(r.url())
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1 // as cmd/broker sets it
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func splitHostPort(a string) (string, string, error) {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == ':' {
			return a[:i], a[i+1:], nil
		}
	}
	return a, "", nil
}

// node is a broker with a backplane, in this process.
type node struct {
	b    *broker.Broker
	bp   *Backplane
	stop func() // ends Run and waits for it
}

func startNode(t testing.TB, r *redisServer, name string, opts Options) *node {
	t.Helper()
	return startNodeOn(t, r.client(t), name, opts)
}

func startNodeOn(t testing.TB, rdb *redis.Client, name string, opts Options) *node {
	t.Helper()
	b, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Name = name
	if opts.NodeTimeout == 0 {
		opts.NodeTimeout = time.Second
	}
	bp, err := New(b, rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		bp.Run(ctx)
		close(done)
	}()
	stop := sync.OnceFunc(func() {
		cancel()
		<-done
	})
	t.Cleanup(func() {
		stop()
		b.Close()
	})
	waitFor(t, "the node to link", func() bool { return bp.Err() == nil })
	return &node{b: b, bp: bp, stop: stop}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func client(t *testing.T, b *broker.Broker, name string) *brokertest.Client {
	t.Helper()
	c, err := brokertest.NewClient(b, name, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type collector struct {
	mu   sync.Mutex
	msgs []*brokertest.Msg
}

func (c *collector) cb(m *brokertest.Msg) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) all() []*brokertest.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*brokertest.Msg(nil), c.msgs...)
}
