package broker_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
)

// relay links brokers in one process through the cluster seam, the way a
// backplane does over the network, but synchronously: a message forwarded
// by one broker is delivered by the other inside the Forward call. Tests
// subscribe one at a time, since interest flows both ways under each
// broker's interest lock.
type relay struct {
	nodes    map[string]*broker.Broker
	forwards atomic.Int64 // every Forward call: a loop would run it away
}

type relayNode struct {
	r    *relay
	name string
}

func (n relayNode) Forward(node string, m *broker.Message, groups []broker.QueueGroup) {
	n.r.forwards.Add(1)
	cp := *m
	n.r.nodes[node].DeliverRemote(n.name, &cp, slices.Clone(groups))
}

// interestTo tells every other node of one node's interest.
type interestTo struct {
	r    *relay
	from string
}

func (l interestTo) InterestChanged(filter, queue string, present bool) {
	for name, b := range l.r.nodes {
		if name != l.from {
			b.SetRemoteInterest(l.from, filter, queue, present)
		}
	}
}

func cluster(t *testing.T, names ...string) *relay {
	r := &relay{nodes: map[string]*broker.Broker{}}
	for _, n := range names {
		r.nodes[n] = newBroker(t, broker.Options{})
	}
	for _, n := range names {
		r.nodes[n].AttachBackplane(relayNode{r, n})
	}
	for _, n := range names {
		t.Cleanup(r.nodes[n].WatchInterest(interestTo{r, n}))
	}
	return r
}

func TestClusterSeamPubSub(t *testing.T) {
	r := cluster(t, "a", "b")
	a, b := r.nodes["a"], r.nodes["b"]
	onA, onB1, onB2 := newCollector(), newCollector(), newCollector()
	newClient(t, a, "sa").Subscribe("x.>", onA.cb)
	sb := newClient(t, b, "sb")
	sb.Subscribe("x.*", onB1.cb)
	sb.Subscribe("x.y", onB2.cb)

	newClient(t, a, "pa").Publish("x.y", []byte("from a"))
	newClient(t, b, "pb").Publish("x.y", []byte("from b"))
	for _, c := range []*collector{onA, onB1, onB2} {
		got := c.wait(t, 2)
		if string(got[0].Payload) != "from a" || string(got[1].Payload) != "from b" {
			t.Fatalf("got %q, %q", got[0].Payload, got[1].Payload)
		}
	}
	// One forward per publish: b's two matching filters share one, and a
	// message that came from another node is never sent on.
	if n := r.forwards.Load(); n != 2 {
		t.Fatalf("%d forwards for 2 publishes", n)
	}
	// Other nodes' interest is not this node's.
	if got := a.Interest(); len(got) != 1 || got[0].Filter != "x.>" {
		t.Fatalf("a's interest %v", got)
	}
	if st := a.Stats(); st.Subscriptions != 1 {
		t.Fatalf("a counts %d subscriptions", st.Subscriptions)
	}
	// A topic nobody on b wants is not sent to b.
	newClient(t, a, "p2").Publish("x.z.w", []byte("a only"))
	onA.wait(t, 1)
	if n := r.forwards.Load(); n != 2 {
		t.Fatalf("a message without interest on b was forwarded (%d forwards)", n)
	}
}

func TestClusterSeamQueueGroups(t *testing.T) {
	r := cluster(t, "a", "b")
	a, b := r.nodes["a"], r.nodes["b"]
	nop := func(*brokertest.Msg) {}
	wa, wb := newClient(t, a, "wa"), newClient(t, b, "wb")
	wa.QueueSubscribe("work.*", "g", nop)
	wb.QueueSubscribe("work.*", "g", nop)
	all := newClient(t, b, "all")
	all.Subscribe("work.*", nop) // plain, on b: every message
	pub := newClient(t, a, "pub")
	// Routing, and the relay, are synchronous: once Publish returns, the
	// sessions' counters hold every delivery it made.
	delivered := func(c *brokertest.Client) uint64 { return c.Session().Stats().MsgsOut }
	const n = 200
	for range n {
		pub.Publish("work.x", []byte("job"))
	}
	onA, onB := delivered(wa), delivered(wb)
	if onA+onB != n || delivered(all) != n {
		t.Fatalf("%d messages: group got %d (a %d, b %d), plain subscriber %d", n, onA+onB, onA, onB, delivered(all))
	}
	if onA == 0 || onB == 0 {
		t.Fatalf("one node's member got everything: a %d, b %d", onA, onB)
	}
	// b is gone: a's member takes all.
	a.DropNode("b")
	for range 10 {
		pub.Publish("work.x", []byte("job"))
	}
	if got := delivered(wa) - onA; got != 10 {
		t.Fatalf("after b left, a's member got %d of 10", got)
	}
}

func TestClusterSeamRequestReply(t *testing.T) {
	r := cluster(t, "a", "b")
	a, b := r.nodes["a"], r.nodes["b"]
	resp := newClient(t, b, "resp")
	resp.Subscribe("svc.time", func(m *brokertest.Msg) {
		resp.Publish(m.Reply, []byte("noon"))
	})
	req := newClient(t, a, "req")
	replies := newCollector()
	req.Subscribe("_INBOX.req.*", replies.cb)
	req.PublishMsg(&broker.Message{Topic: []byte("svc.time"), Reply: []byte("_INBOX.req.1")}, nil)
	if m := replies.wait(t, 1)[0]; string(m.Payload) != "noon" {
		t.Fatalf("reply %q", m.Payload)
	}
	// Nobody anywhere: no-responders at once, from a.
	req.PublishMsg(&broker.Message{Topic: []byte("svc.none"), Reply: []byte("_INBOX.req.2")}, nil)
	if m := replies.wait(t, 1)[1]; !m.NoResponders {
		t.Fatal("no no-responders status for a topic no node wants")
	}
}

type countForwards struct{ n atomic.Int64 }

func (c *countForwards) Forward(string, *broker.Message, []broker.QueueGroup) { c.n.Add(1) }

func TestClusterSeamNeedsABackplane(t *testing.T) {
	b := newBroker(t, broker.Options{})
	if _, err := b.DeliverRemote("x", &broker.Message{Topic: []byte("a")}, nil); !errors.Is(err, broker.ErrNoBackplane) {
		t.Fatalf("DeliverRemote: %v", err)
	}
	if err := b.SetRemoteInterest("x", "a", "", true); !errors.Is(err, broker.ErrNoBackplane) {
		t.Fatalf("SetRemoteInterest: %v", err)
	}
	fw := &countForwards{}
	detach := b.AttachBackplane(fw)
	if err := b.SetRemoteInterest("x", "a", "", true); err != nil {
		t.Fatal(err)
	}
	pub := newClient(t, b, "pub")
	pub.Publish("a", nil)
	if fw.n.Load() != 1 {
		t.Fatalf("%d forwards to a node with interest", fw.n.Load())
	}
	detach() // forgets x's interest
	b.AttachBackplane(fw)
	pub.Publish("a", nil)
	if fw.n.Load() != 1 {
		t.Fatal("a detached backplane's interest is still routed to")
	}
}

// holdForwards is an AckForwarder that answers when the test says so.
type holdForwards struct {
	mu   sync.Mutex
	done []func(error)
}

func (h *holdForwards) Forward(string, *broker.Message, []broker.QueueGroup) {}

func (h *holdForwards) ForwardAck(_ string, _ *broker.Message, _ []broker.QueueGroup, done func(error)) {
	h.mu.Lock()
	h.done = append(h.done, done)
	h.mu.Unlock()
}

func (h *holdForwards) answer(err error) int {
	h.mu.Lock()
	d := h.done
	h.done = nil
	h.mu.Unlock()
	for _, fn := range d {
		fn(err)
	}
	return len(d)
}

// In a cluster an acked publish is acked once every forward is accepted,
// with the forward's error if one failed; locally it is acked at once.
func TestClusterSeamAckWaitsForForwards(t *testing.T) {
	b := newBroker(t, broker.Options{})
	h := &holdForwards{}
	b.AttachBackplane(h)
	for _, node := range []string{"x", "y"} {
		if err := b.SetRemoteInterest(node, "a.*", "", true); err != nil {
			t.Fatal(err)
		}
	}
	pub := newClient(t, b, "pub")
	acks := make(chan error, 4)
	ack := func(err error) { acks <- err }
	noAck := func() {
		t.Helper()
		select {
		case err := <-acks:
			t.Fatalf("acked (%v) before the forwards were accepted", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	pub.PublishMsg(&broker.Message{Topic: []byte("a.b")}, ack)
	noAck()
	if n := h.answer(nil); n != 2 {
		t.Fatalf("%d forwards to answer, want 2", n)
	}
	if err := <-acks; err != nil {
		t.Fatalf("ack: %v", err)
	}
	// A failed forward fails the ack.
	pub.PublishMsg(&broker.Message{Topic: []byte("a.b")}, ack)
	h.answer(broker.ErrForward)
	if err := <-acks; !errors.Is(err, broker.ErrForward) {
		t.Fatalf("ack after a failed forward: %v", err)
	}
	// A retained publish waits for the store and the forwards.
	pub.PublishMsg(&broker.Message{Topic: []byte("a.r"), Payload: []byte("v"), Retain: true}, ack)
	noAck()
	h.answer(nil)
	if err := <-acks; err != nil {
		t.Fatalf("retained ack: %v", err)
	}
	// Nobody elsewhere wants it: acked at once.
	pub.PublishMsg(&broker.Message{Topic: []byte("other")}, ack)
	select {
	case err := <-acks:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ack for a publish with no forward")
	}
}
