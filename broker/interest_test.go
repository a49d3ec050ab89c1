package broker_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
)

type interestLog struct {
	mu     sync.Mutex
	events []string
}

func (l *interestLog) InterestChanged(filter, queue string, present bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf("%v %s/%s", present, filter, queue))
}

func (l *interestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}

func TestInterestEvents(t *testing.T) {
	b := newBroker(t, broker.Options{})
	c1, c2 := newClient(t, b, "c1"), newClient(t, b, "c2")
	nop := func(*brokertest.Msg) {}
	if _, err := c1.Subscribe("before.*", nop); err != nil {
		t.Fatal(err)
	}
	log := &interestLog{}
	stop := b.WatchInterest(log)
	if got := log.take(); !slices.Equal(got, []string{"true before.*/"}) {
		t.Fatalf("initial interest %v", got)
	}
	s1, _ := c1.Subscribe("a.>", nop)
	s2, _ := c2.Subscribe("a.>", nop)
	q1, _ := c1.QueueSubscribe("a.>", "g", nop)
	if got := log.take(); !slices.Equal(got, []string{"true a.>/", "true a.>/g"}) {
		t.Fatalf("after subscribing: %v (only the first subscriber of each filter and group counts)", got)
	}
	want := []broker.Interest{{Filter: "a.>", Subscribers: 2}, {Filter: "a.>", Queue: "g", Subscribers: 1}, {Filter: "before.*", Subscribers: 1}}
	got := b.Interest()
	slices.SortFunc(got, func(x, y broker.Interest) int {
		if x.Filter != y.Filter {
			return map[bool]int{true: -1, false: 1}[x.Filter < y.Filter]
		}
		return map[bool]int{true: -1, false: 1}[x.Queue < y.Queue]
	})
	if !slices.Equal(got, want) {
		t.Fatalf("Interest() = %v, want %v", got, want)
	}
	s1.Unsubscribe()
	if got := log.take(); len(got) != 0 {
		t.Fatalf("a filter with a subscriber left reported %v", got)
	}
	s2.Unsubscribe()
	q1.Unsubscribe()
	if got := log.take(); !slices.Equal(got, []string{"false a.>/", "false a.>/g"}) {
		t.Fatalf("after unsubscribing: %v", got)
	}
	// A closing session withdraws its interest.
	c2.Subscribe("gone", nop)
	c2.Close()
	if got := log.take(); !slices.Equal(got, []string{"true gone/", "false gone/"}) {
		t.Fatalf("closing session: %v", got)
	}
	stop()
	c1.Subscribe("after", nop)
	if got := log.take(); len(got) != 0 {
		t.Fatalf("stopped listener got %v", got)
	}
}

func TestQueueGroupIsFilterAndName(t *testing.T) {
	b := newBroker(t, broker.Options{})
	pub := newClient(t, b, "pub")
	star, full := newCollector(), newCollector()
	c1, c2 := newClient(t, b, "c1"), newClient(t, b, "c2")
	c1.QueueSubscribe("x.*", "g", star.cb)
	c2.QueueSubscribe("x.>", "g", full.cb)
	for range 10 {
		pub.Publish("x.y", []byte("m"))
	}
	// Two groups: each gets every message.
	star.wait(t, 10)
	full.wait(t, 10)
}

func TestSystemTopicsNeedTheirOwnFilter(t *testing.T) {
	b := newBroker(t, broker.Options{})
	pub, sub := newClient(t, b, "pub"), newClient(t, b, "sub")
	wild, sys := newCollector(), newCollector()
	sub.Subscribe(">", wild.cb)
	sub.Subscribe("*.conn", wild.cb)
	sub.Subscribe("$SYS.>", sys.cb)
	pub.Publish("$SYS.conn", []byte("event"))
	pub.Publish("user.conn", []byte("data"))
	if got := sys.wait(t, 1); got[0].Topic != "$SYS.conn" {
		t.Fatalf("$SYS.> got %q", got[0].Topic)
	}
	got := wild.wait(t, 2)
	for _, m := range got {
		if m.Topic != "user.conn" {
			t.Fatalf("a leading wildcard received %q", m.Topic)
		}
	}
}

// blockingStore holds its Match midway until released.
type blockingStore struct {
	broker.RetainedStore
	inMatch, release chan struct{}
	fail             error
}

func (s *blockingStore) Match(filter string, fn func(broker.RetainedMessage) bool) error {
	if filter != "slow.>" {
		return s.RetainedStore.Match(filter, fn)
	}
	fn(broker.RetainedMessage{Topic: "slow.1", Payload: []byte("r1")})
	close(s.inMatch)
	<-s.release
	fn(broker.RetainedMessage{Topic: "slow.2", Payload: []byte("r2")})
	return s.fail
}

func TestRetainedReplayDoesNotStallTheSession(t *testing.T) {
	st := &blockingStore{RetainedStore: broker.NewMemoryStore(0, 0), inMatch: make(chan struct{}), release: make(chan struct{})}
	b := newBroker(t, broker.Options{Retained: st})
	pub, sub := newClient(t, b, "pub"), newClient(t, b, "sub")
	other, slow := newCollector(), newCollector()
	sub.Subscribe("other", other.cb)
	done := make(chan error, 1)
	go func() { _, err := sub.Subscribe("slow.>", slow.cb); done <- err }()
	<-st.inMatch
	// While the replay is stuck, the session's other subscription gets
	// its messages, and live messages for the new one wait their turn.
	pub.Publish("other", []byte("o"))
	other.wait(t, 1)
	pub.Publish("slow.live", []byte("live"))
	close(st.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, m := range slow.wait(t, 3) {
		order = append(order, fmt.Sprintf("%s/%v", m.Topic, m.Retained))
	}
	if want := []string{"slow.1/true", "slow.2/true", "slow.live/false"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}

func TestFailedReplayRemovesTheSubscription(t *testing.T) {
	st := &blockingStore{RetainedStore: broker.NewMemoryStore(0, 0), inMatch: make(chan struct{}), release: make(chan struct{}), fail: broker.ErrStore}
	close(st.release)
	b := newBroker(t, broker.Options{Retained: st})
	sub := newClient(t, b, "sub")
	if _, err := sub.Subscribe("slow.>", func(*brokertest.Msg) {}); !errors.Is(err, broker.ErrStore) {
		t.Fatalf("Subscribe = %v, want the store's error", err)
	}
	if n := len(b.Interest()); n != 0 {
		t.Fatalf("the failed subscription stayed live: %v", b.Interest())
	}
}

type nameAuth struct{ perms map[string]broker.Permissions }

func (a nameAuth) Authenticate(info broker.SessionInfo, _ broker.Credentials) (broker.Principal, error) {
	return broker.Principal{User: info.Name, Permissions: a.perms[info.Name]}, nil
}

type denyAll struct{}

func (denyAll) MayPublish([]byte) bool                   { return false }
func (denyAll) MaySubscribe(string, string) (bool, bool) { return false, false }
func (denyAll) MayReceive([]byte) bool                   { return false }

func TestDenyAllInProcess(t *testing.T) {
	b := newBroker(t, broker.Options{Authenticator: nameAuth{map[string]broker.Permissions{"nobody": denyAll{}}}})
	c := newClient(t, b, "nobody")
	if err := c.Publish("a", []byte("x")); !errors.Is(err, broker.ErrPermission) {
		t.Fatalf("publish: %v", err)
	}
	if err := c.PublishMsg(&broker.Message{Topic: []byte("a"), Payload: []byte("x"), Retain: true}, nil); !errors.Is(err, broker.ErrPermission) {
		t.Fatalf("retained publish: %v", err)
	}
	if _, err := c.QueueSubscribe("a", "q", func(*brokertest.Msg) {}); !errors.Is(err, broker.ErrPermission) {
		t.Fatalf("queue subscribe: %v", err)
	}
	if p := c.Session().Principal(); p.User != "nobody" {
		t.Fatalf("principal %+v", p)
	}
	// Granted later: SetPrincipal lets it subscribe.
	c.Session().SetPrincipal(broker.Principal{User: "nobody"})
	got := newCollector()
	if _, err := c.Subscribe("a", got.cb); err != nil {
		t.Fatal(err)
	}
	newClient(t, b, "pub").Publish("a", []byte("x"))
	got.wait(t, 1)
}

// gated allows everything, but its MaySubscribe waits until released.
type gated struct{ entered, release chan struct{} }

func (gated) MayPublish([]byte) bool { return true }
func (g gated) MaySubscribe(string, string) (bool, bool) {
	close(g.entered)
	<-g.release
	return true, false
}
func (gated) MayReceive([]byte) bool { return true }

// A Subscribe decided under the old principal while SetPrincipal swaps in
// one that forbids it does not stay live (review finding).
func TestSubscribeRacingSetPrincipal(t *testing.T) {
	g := gated{entered: make(chan struct{}), release: make(chan struct{})}
	b := newBroker(t, broker.Options{Authenticator: nameAuth{map[string]broker.Permissions{"sub": g}}})
	sub := newClient(t, b, "sub")
	done := make(chan error, 1)
	go func() {
		_, err := sub.Subscribe("secret.x", func(*brokertest.Msg) {})
		done <- err
	}()
	<-g.entered
	swapped := make(chan struct{})
	go func() {
		sub.Session().SetPrincipal(broker.Principal{User: "sub", Permissions: denyAll{}})
		close(swapped)
	}()
	close(g.release)
	<-done
	<-swapped
	if n := sub.Session().Stats().Subscriptions; n != 0 {
		t.Fatalf("after SetPrincipal(deny all) the session still has %d subscription(s)", n)
	}
	newClient(t, b, "pub").Publish("secret.x", []byte("classified"))
	if n := sub.Session().Stats().MsgsOut; n != 0 {
		t.Fatalf("%d messages delivered to a session that may receive none", n)
	}
}

// onlyPrefix may publish only to topics with a prefix.
type onlyPrefix struct{ prefix string }

func (p onlyPrefix) MayPublish(t []byte) bool               { return bytes.HasPrefix(t, []byte(p.prefix)) }
func (onlyPrefix) MaySubscribe(string, string) (bool, bool) { return true, false }
func (onlyPrefix) MayReceive([]byte) bool                   { return true }

// The no-responders status goes to the requester's own inbox only: naming
// another topic as reply topic does not let a requester put a message
// there (review finding), nor does a spy on the inboxes get it.
func TestNoRespondersOnlyToTheRequester(t *testing.T) {
	b := newBroker(t, broker.Options{Authenticator: nameAuth{map[string]broker.Permissions{"req": onlyPrefix{"svc."}}}})
	victim := newClient(t, b, "victim")
	victim.Subscribe("alerts.>", func(*brokertest.Msg) {})
	victim.Subscribe("_INBOX.>", func(*brokertest.Msg) {})
	req := newClient(t, b, "req")
	if err := req.PublishMsg(&broker.Message{Topic: []byte("svc.nobody"), Reply: []byte("alerts.fire")}, nil); err != nil {
		t.Fatal(err)
	}
	got := newCollector()
	req.Subscribe("_INBOX.req.*", got.cb)
	req.PublishMsg(&broker.Message{Topic: []byte("svc.nobody"), Reply: []byte("_INBOX.req.1")}, nil)
	if m := got.wait(t, 1)[0]; !m.NoResponders {
		t.Fatal("the requester's inbox did not get the status")
	}
	// Routing is synchronous: the victim's counter is final.
	if n := victim.Session().Stats().MsgsOut; n != 0 {
		t.Fatalf("another session got %d no-responders status(es)", n)
	}
}
