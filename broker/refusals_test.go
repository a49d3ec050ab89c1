package broker_test

import (
	"errors"
	"testing"

	"github.com/msgtrans/msgtrans/broker"
)

// Every kind of refused subscription request counts toward the limit
// (duplicate sid, unknown sid, invalid filter, permission, per-topic
// limit); past it the adapter is asked to close the session with
// ErrRefusals, which is an ErrTooManySubs, and further requests are
// refused as from a closed session. Another session is not affected.
func TestRefusalsCloseTheSession(t *testing.T) {
	b := newBroker(t, broker.Options{MaxSubscriptionsPerTopic: 2,
		Authenticator: permAuth{"u": prefixPerms("no.")}}) // "no." is denied
	conn, other := &revokeConn{}, &revokeConn{}
	s, err := b.Connect(broker.SessionInfo{}, broker.Credentials{User: "u"}, conn)
	if err != nil {
		t.Fatal(err)
	}
	o, err := b.Connect(broker.SessionInfo{}, broker.Credentials{User: "u"}, other)
	if err != nil {
		t.Fatal(err)
	}
	for sid := uint32(1); sid <= 2; sid++ {
		if err := s.Subscribe(sid, "ok.>", broker.SubOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	kinds := []func() error{
		func() error { return s.Subscribe(1, "ok.a", broker.SubOptions{}) },   // sid in use
		func() error { return s.Unsubscribe(99, 0) },                          // unknown sid
		func() error { return s.Subscribe(10, "ok..a", broker.SubOptions{}) }, // invalid filter
		func() error { return s.Subscribe(11, "no.a", broker.SubOptions{}) },  // permission
		func() error { return s.Subscribe(12, "ok.x", broker.SubOptions{}) },  // per-topic limit
	}
	for i := range broker.MaxRefusals {
		err := kinds[i%len(kinds)]()
		if err == nil || errors.Is(err, broker.ErrSessionClosed) {
			t.Fatalf("refusal %d: %v, want a refusal", i+1, err)
		}
	}
	conn.mu.Lock()
	closed := conn.closed
	conn.mu.Unlock()
	if closed != nil {
		t.Fatalf("closed after %d refusals: %v", broker.MaxRefusals, closed)
	}
	if err := s.Subscribe(1, "ok.a", broker.SubOptions{}); !errors.Is(err, broker.ErrSessionClosed) {
		t.Fatalf("refusal %d: %v, want ErrSessionClosed", broker.MaxRefusals+1, err)
	}
	conn.mu.Lock()
	closed = conn.closed
	conn.mu.Unlock()
	if !errors.Is(closed, broker.ErrRefusals) || !errors.Is(closed, broker.ErrTooManySubs) {
		t.Fatalf("close reason %v, want ErrRefusals", closed)
	}
	if err := s.Subscribe(20, "ok.b", broker.SubOptions{}); !errors.Is(err, broker.ErrSessionClosed) {
		t.Fatalf("a valid SUB after the close: %v, want ErrSessionClosed", err)
	}
	if err := o.Subscribe(1, "ok.b", broker.SubOptions{}); err != nil {
		t.Fatalf("another session: %v", err)
	}
}
