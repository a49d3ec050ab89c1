package broker_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
)

// One session cannot make a single message fan out more than
// MaxSubscriptionsPerTopic times to itself, whether by subscribing the same
// filter again and again or with distinct wildcards that all match one
// topic (issue 14: 65,536 subscriptions to ">" on one connection held up
// every publisher for seconds). Subscriptions that do not overlap are not
// limited by it, and a removed subscription makes room again.
func TestSubscriptionsPerTopicBounded(t *testing.T) {
	const limit = 8
	b := newBroker(t, broker.Options{MaxSubscriptionsPerTopic: limit})
	c := newClient(t, b, "greedy")
	s := c.Session()
	sid := uint32(0)
	sub := func(filter string) error {
		sid++
		return s.Subscribe(sid, filter, broker.SubOptions{})
	}
	for i := range limit {
		if err := sub(">"); err != nil {
			t.Fatalf("duplicate %d of >: %v", i+1, err)
		}
	}
	err := sub(">")
	if !errors.Is(err, broker.ErrTooManySubs) {
		t.Fatalf("subscription %d to >: %v, want ErrTooManySubs", limit+1, err)
	}
	if again := sub(">"); !errors.Is(again, broker.ErrTooManySubs) || again.Error() != err.Error() {
		t.Fatalf("the same filter again: %v, want the same refusal %v", again, err)
	}
	// Any other filter overlaps the eight ">".
	if err := sub("a.b.c"); !errors.Is(err, broker.ErrTooManySubs) {
		t.Fatalf("a.b.c over %d '>': %v", limit, err)
	}
	// System topics are not matched by ">": no overlap.
	if err := sub("$SYS.x"); err != nil {
		t.Fatalf("$SYS.x: %v", err)
	}
	if err := s.Unsubscribe(1, 0); err != nil {
		t.Fatal(err)
	}
	if err := sub("a.b.c"); err != nil {
		t.Fatalf("a.b.c after an unsubscribe made room: %v", err)
	}

	// Distinct wildcards that all match one topic count too.
	c2 := newClient(t, b, "wild")
	s2 := c2.Session()
	filters := []string{"x.y.z", "x.y.*", "x.*.z", "*.y.z", "x.*.*", "*.*.z", "*.y.*", "*.*.*", "x.>", "*.>"}
	var refused int
	for i, f := range filters {
		if err := s2.Subscribe(uint32(i+1), f, broker.SubOptions{}); errors.Is(err, broker.ErrTooManySubs) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused != len(filters)-limit {
		t.Fatalf("%d of %d overlapping filters refused, want %d", refused, len(filters), len(filters)-limit)
	}
	// Many subscriptions that do not overlap are fine.
	for i := range 1000 {
		if err := s2.Subscribe(uint32(100+i), fmt.Sprintf("dev.%d.state", i), broker.SubOptions{}); err != nil {
			t.Fatalf("dev.%d.state: %v", i, err)
		}
	}

	// Through the client API too: the refusal is the subscribe's error.
	c3 := newClient(t, b, "client")
	for range limit {
		if _, err := c3.Subscribe("k.*", func(*brokertest.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c3.Subscribe("k.>", func(*brokertest.Msg) {}); !errors.Is(err, broker.ErrTooManySubs) {
		t.Fatalf("a ninth overlapping subscription: %v", err)
	}
}
