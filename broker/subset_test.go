package broker_test

import (
	"fmt"
	"testing"

	"github.com/msgtrans/msgtrans/broker"
)

// A session's subscriptions are held apart from a map while there is one
// (see subSet): growing to several, shrinking back, and closing with
// several must keep every subscription reachable by its sid, each
// delivery on the right one, and nothing left in the broker's interest.
func TestSessionSubscriptionsOneAndMany(t *testing.T) {
	b := newBroker(t, broker.Options{})
	sub := newClient(t, b, "sub")
	pub := newClient(t, b, "pub")
	s := sub.Session()
	got := map[string]*collector{}
	subscribe := func(topic string) {
		c := newCollector()
		got[topic] = c
		if _, err := sub.Subscribe(topic, c.cb); err != nil {
			t.Fatal(err)
		}
	}
	check := func(topics ...string) {
		t.Helper()
		for _, topic := range topics {
			if err := pub.Publish(topic, []byte(topic)); err != nil {
				t.Fatal(err)
			}
			if m := got[topic].wait(t, 1); string(m[len(m)-1].Payload) != topic {
				t.Fatalf("%s: got %q", topic, m[len(m)-1].Payload)
			}
		}
		if n := s.Stats().Subscriptions; n != len(topics) {
			t.Fatalf("%d subscriptions, want %d", n, len(topics))
		}
	}
	subscribe("a")
	check("a")
	for i := range 3 {
		subscribe(fmt.Sprint("m", i))
	}
	check("a", "m0", "m1", "m2")
	for _, info := range s.Subscriptions() {
		if info.Filter != "m1" {
			if err := s.Unsubscribe(info.SID, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	check("m1")
	subscribe("z")
	check("m1", "z")
	if err := s.Unsubscribe(s.Subscriptions()[0].SID, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe(s.Subscriptions()[0].SID, 0); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Subscriptions; n != 0 {
		t.Fatalf("%d subscriptions after removing all", n)
	}
	subscribe("one")
	subscribe("two")
	subscribe("three")
	sub.Close()
	if n := len(b.Interest()); n != 0 {
		t.Fatalf("%d interests left after the session closed", n)
	}
}
