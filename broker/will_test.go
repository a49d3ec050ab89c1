package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
)

func TestWillPublishedWhenSessionEnds(t *testing.T) {
	b := newBroker(t, broker.Options{})
	watcher := newClient(t, b, "watcher")
	got := newCollector()
	watcher.Subscribe("will.>", got.cb)
	c, err := brokertest.NewClient(b, "dying", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Session().SetWill(&broker.Will{Topic: "will.dying", Payload: []byte("gone"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	m := got.wait(t, 1)[0]
	if m.Topic != "will.dying" || string(m.Payload) != "gone" {
		t.Fatalf("will %q %q", m.Topic, m.Payload)
	}
	// Retained: a later subscriber finds it.
	late := newCollector()
	newClient(t, b, "late").Subscribe("will.dying", late.cb)
	if m := late.wait(t, 1)[0]; !m.Retained {
		t.Fatal("retained will not replayed")
	}
}

func TestWillRefusals(t *testing.T) {
	b := newBroker(t, broker.Options{MaxPayload: 4})
	s := newClient(t, b, "c").Session()
	for _, w := range []broker.Will{{Topic: "a.*"}, {Topic: ""}, {Topic: "a", Payload: []byte("12345")}, {Topic: "a", Delay: -1}} {
		if err := s.SetWill(&w); err == nil {
			t.Errorf("SetWill(%+v) accepted", w)
		}
	}
}

func TestWillDelayAndShutdown(t *testing.T) {
	b := newBroker(t, broker.Options{})
	watcher := newClient(t, b, "watcher")
	got := newCollector()
	watcher.Subscribe("will.>", got.cb)

	c := newClient(t, b, "delayed")
	const delay = 150 * time.Millisecond
	c.Session().SetWill(&broker.Will{Topic: "will.delayed", Payload: []byte("x"), Delay: delay})
	closed := time.Now()
	c.Close()
	got.wait(t, 1)
	if waited := time.Since(closed); waited < delay {
		t.Fatalf("will published after %v, before its %v delay", waited, delay)
	}

	// A will still waiting when the broker shuts down goes out at once,
	// while its subscribers are still connected.
	c2 := newClient(t, b, "delayed2")
	c2.Session().SetWill(&broker.Will{Topic: "will.long", Payload: []byte("y"), Delay: time.Hour})
	c2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go b.Shutdown(ctx)
	if m := got.wait(t, 1)[1]; m.Topic != "will.long" {
		t.Fatalf("got %q", m.Topic)
	}
}

func TestWillPermissionCheckedWhenPublished(t *testing.T) {
	b := newBroker(t, broker.Options{Authenticator: nameAuth{map[string]broker.Permissions{"nobody": denyAll{}}}})
	watcher := newClient(t, b, "watcher")
	got := newCollector()
	watcher.Subscribe("will.>", got.cb)
	c := newClient(t, b, "nobody")
	c.Session().SetWill(&broker.Will{Topic: "will.denied", Payload: []byte("x")})
	c.Close()
	ok := newClient(t, b, "ok")
	ok.Session().SetWill(&broker.Will{Topic: "will.ok", Payload: []byte("x")})
	ok.Close()
	if m := got.wait(t, 1)[0]; m.Topic != "will.ok" {
		t.Fatalf("a will the principal may not publish went out: %q", m.Topic)
	}
}

// A session that a graceful shutdown ends publishes its delayed will at
// once, as the wills already waiting do (review finding).
func TestDelayedWillOfSessionEndedByShutdown(t *testing.T) {
	store := broker.NewMemoryStore(0, 0)
	b := newBroker(t, broker.Options{Retained: store})
	c := newClient(t, b, "later")
	c.Session().SetWill(&broker.Will{Topic: "dev.later.gone", Payload: []byte("off"), Retain: true, Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 1 {
		t.Fatal("the delayed will of a session ended by the shutdown was dropped")
	}
}
