package broker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
)

func newBroker(t testing.TB, opts broker.Options) *broker.Broker {
	t.Helper()
	b, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newClient(t testing.TB, b *broker.Broker, name string) *brokertest.Client {
	t.Helper()
	c, err := brokertest.NewClient(b, name, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collector gathers messages from callbacks.
type collector struct {
	mu   sync.Mutex
	msgs []*brokertest.Msg
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1<<16)} }

func (c *collector) cb(m *brokertest.Msg) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	c.ch <- struct{}{}
}

func (c *collector) wait(t *testing.T, n int) []*brokertest.Msg {
	t.Helper()
	for range n {
		select {
		case <-c.ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d messages, want %d", len(c.snapshot()), n)
		}
	}
	return c.snapshot()
}

func (c *collector) snapshot() []*brokertest.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*brokertest.Msg(nil), c.msgs...)
}

func TestInprocPubSub(t *testing.T) {
	b := newBroker(t, broker.Options{})
	c := newClient(t, b, "a")
	col := newCollector()
	if _, err := c.Subscribe("a.*.c", col.cb); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"a.b.c", "a.x.c", "a.b", "a.b.c.d"} {
		if err := c.Publish(topic, []byte(topic)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := col.wait(t, 2)
	if msgs[0].Topic != "a.b.c" || msgs[1].Topic != "a.x.c" {
		t.Fatalf("got %s, %s", msgs[0].Topic, msgs[1].Topic)
	}
	st := b.Stats()
	if st.MsgsIn != 4 || st.MsgsOut != 2 || st.Subscriptions != 1 || st.ConnectionsByProtocol["inproc"] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefusals(t *testing.T) {
	b := newBroker(t, broker.Options{MaxPayload: 8, MaxSubscriptions: 2})
	c := newClient(t, b, "a")
	s := c.Session()
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"payload", c.Publish("t", make([]byte, 9)), broker.ErrPayloadTooLarge},
		{"wildcard publish", c.Publish("a.*", nil), broker.ErrBadTopic},
		{"empty token", c.Publish("a..b", nil), broker.ErrBadTopic},
		{"bad filter", s.Subscribe(1, "a.>.b", broker.SubOptions{}), broker.ErrBadTopic},
		{"sid 0", s.Subscribe(0, "a", broker.SubOptions{}), broker.ErrBadSubscription},
		{"reply with wildcard", s.Publish(&broker.Message{Topic: []byte("a"), Reply: []byte("r.*")}), broker.ErrBadTopic},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if err := s.Subscribe(1, "x", broker.SubOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(1, "y", broker.SubOptions{}); !errors.Is(err, broker.ErrBadSubscription) {
		t.Fatalf("duplicate sid: %v", err)
	}
	if err := s.Subscribe(2, "y", broker.SubOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(3, "z", broker.SubOptions{}); !errors.Is(err, broker.ErrTooManySubs) {
		t.Fatalf("third sub: %v", err)
	}
	if err := s.Unsubscribe(9, 0); !errors.Is(err, broker.ErrBadSubscription) {
		t.Fatalf("unknown sid: %v", err)
	}
}

func TestRetainedLimits(t *testing.T) {
	b := newBroker(t, broker.Options{Retained: broker.NewMemoryStore(2, 0)})
	c := newClient(t, b, "a")
	ack := func(m *broker.Message) error {
		done := make(chan error, 1)
		if err := c.PublishMsg(m, func(err error) { done <- err }); err != nil {
			return err
		}
		return <-done
	}
	for _, topic := range []string{"r.1", "r.2", "r.2"} {
		if err := ack(&broker.Message{Topic: []byte(topic), Payload: []byte("v"), Retain: true}); err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
	}
	if err := ack(&broker.Message{Topic: []byte("r.3"), Payload: []byte("v"), Retain: true}); !errors.Is(err, broker.ErrRetainedLimit) {
		t.Fatalf("third topic: %v", err)
	}
	if n := b.Stats().Retained; n != 2 {
		t.Fatalf("retained %d", n)
	}
	// Deleting makes room.
	if err := ack(&broker.Message{Topic: []byte("r.1"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	if err := ack(&broker.Message{Topic: []byte("r.3"), Payload: []byte("v"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	byteLimited := broker.NewMemoryStore(0, 10)
	if err := byteLimited.Set(broker.RetainedMessage{Topic: "t", Payload: make([]byte, 10)}, nil); !errors.Is(err, broker.ErrRetainedLimit) {
		t.Fatalf("byte limit: %v", err)
	}
}

func TestQueueSubscribersNotReplayedRetained(t *testing.T) {
	b := newBroker(t, broker.Options{})
	c := newClient(t, b, "a")
	c.PublishMsg(&broker.Message{Topic: []byte("q.t"), Payload: []byte("kept"), Retain: true}, nil)
	qcol, pcol := newCollector(), newCollector()
	c.QueueSubscribe("q.t", "g", qcol.cb)
	c.Subscribe("q.t", pcol.cb)
	if m := pcol.wait(t, 1)[0]; !m.Retained || string(m.Payload) != "kept" {
		t.Fatalf("plain subscriber: %+v", m)
	}
	c.Publish("q.t", []byte("live"))
	if m := qcol.wait(t, 1)[0]; m.Retained || string(m.Payload) != "live" {
		t.Fatalf("queue subscriber first got %+v", m)
	}
}

func TestEvents(t *testing.T) {
	var mu sync.Mutex
	var events []broker.Event
	b := newBroker(t, broker.Options{OnEvent: func(e broker.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	c, err := brokertest.NewClient(b, "ev", false)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0].Kind != broker.SessionOpened || events[1].Kind != broker.SessionClosed ||
		events[1].Session.Name != "ev" || events[1].Reason != nil {
		t.Fatalf("events %+v", events)
	}
}

func TestSlowInprocConsumer(t *testing.T) {
	var closed atomic.Pointer[error]
	b := newBroker(t, broker.Options{MaxPending: 64 << 10, OnEvent: func(e broker.Event) {
		if e.Kind == broker.SessionClosed && e.Reason != nil {
			closed.Store(&e.Reason)
		}
	}})
	slow := newClient(t, b, "slow")
	block := make(chan struct{})
	var unblock sync.Once
	defer unblock.Do(func() { close(block) })
	slow.Subscribe("fire", func(*brokertest.Msg) { <-block })
	fast := newClient(t, b, "fast")
	col := newCollector()
	fast.Subscribe("fire", col.cb)
	pub := newClient(t, b, "pub")
	payload := make([]byte, 1024)
	// Rounds of 32 KiB: the fast consumer catches up after each, the
	// blocked one piles up past its 64 KiB.
	for range 8 {
		for range 32 {
			if err := pub.Publish("fire", payload); err != nil {
				t.Fatal(err)
			}
		}
		col.wait(t, 32)
	}
	if b.Stats().SlowConsumers != 1 {
		t.Fatalf("slow consumers %d", b.Stats().SlowConsumers)
	}
	// The session ends once its stuck callback returns.
	unblock.Do(func() { close(block) })
	deadline := time.Now().Add(5 * time.Second)
	for closed.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if p := closed.Load(); p == nil || !errors.Is(*p, broker.ErrSlowConsumer) {
		t.Fatalf("close reason %v", p)
	}
}

func TestShutdownRefusesNewWork(t *testing.T) {
	b := newBroker(t, broker.Options{})
	c := newClient(t, b, "a")
	col := newCollector()
	c.Subscribe("s", col.cb)
	c.Publish("s", []byte("1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	col.wait(t, 1) // queued before the drain: still handed over
	if _, err := brokertest.NewClient(b, "late", false); !errors.Is(err, broker.ErrShutdown) {
		t.Fatalf("connect while shut down: %v", err)
	}
	if b.Stats().Connections != 0 {
		t.Fatal("sessions left after shutdown")
	}
}

func TestStaticAuth(t *testing.T) {
	a := &broker.StaticAuth{Token: "t", Users: map[string]string{"u": "p"}}
	for _, tc := range []struct {
		c  broker.Credentials
		ok bool
	}{
		{broker.Credentials{Token: "t"}, true},
		{broker.Credentials{User: "u", Password: "p"}, true},
		{broker.Credentials{Token: "t", User: "u", Password: "p"}, true},
		{broker.Credentials{Token: "x", User: "u", Password: "p"}, false},
		{broker.Credentials{Token: "t", User: "u", Password: "x"}, false},
		{broker.Credentials{Token: "t", User: "claimed"}, false},
		{broker.Credentials{Token: "x"}, false},
		{broker.Credentials{User: "u", Password: "x"}, false},
		{broker.Credentials{User: "nobody", Password: "p"}, false},
		{broker.Credentials{}, false},
	} {
		p, err := a.Authenticate(broker.SessionInfo{}, tc.c)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, broker.ErrAuth)) {
			t.Errorf("%+v: %v", tc.c, err)
		}
		if err == nil && (p.User != tc.c.User || p.Permissions != nil) {
			t.Errorf("%+v: principal %+v", tc.c, p)
		}
	}
	if _, err := (&broker.StaticAuth{}).Authenticate(broker.SessionInfo{}, broker.Credentials{}); err != nil {
		t.Fatalf("open auth: %v", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	if _, err := broker.New(broker.Options{MaxPayload: -1}); err == nil {
		t.Fatal("negative MaxPayload accepted")
	}
	b := newBroker(t, broker.Options{})
	if o := b.Options(); o.MaxPayload != broker.DefaultMaxPayload || o.MaxPending != broker.DefaultMaxPending {
		t.Fatalf("defaults %+v", o)
	}
}
