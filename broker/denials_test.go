package broker_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/msgtrans/msgtrans/broker"
)

// prefixPerms refuses topics and filters that start with a prefix.
type prefixPerms string

func (p prefixPerms) MayPublish(t []byte) bool { return !bytes.HasPrefix(t, []byte(p)) }
func (p prefixPerms) MaySubscribe(f, _ string) (bool, bool) {
	return !strings.HasPrefix(f, string(p)), false
}
func (p prefixPerms) MayReceive([]byte) bool { return true }

type permAuth map[string]broker.Permissions

func (a permAuth) Authenticate(_ broker.SessionInfo, c broker.Credentials) (broker.Principal, error) {
	p, ok := a[c.User]
	if !ok {
		return broker.Principal{}, broker.ErrAuth
	}
	return broker.Principal{User: c.User, Permissions: p}, nil
}

type eventLog struct {
	mu     sync.Mutex
	events []broker.Event
}

func (l *eventLog) add(e broker.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) of(k broker.EventKind) []broker.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []broker.Event
	for _, e := range l.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// Every refusal is counted and answered, but reported as an event once per
// session, operation and topic: a client that publishes a refused topic in
// a loop does not flood the log.
func TestPermissionDenialsCountedAndReportedOnce(t *testing.T) {
	var log eventLog
	b := newBroker(t, broker.Options{Authenticator: permAuth{"u": prefixPerms("no.")}, OnEvent: log.add})
	s, err := b.Connect(broker.SessionInfo{}, broker.Credentials{User: "u"}, &bufConn{})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := s.Publish(&broker.Message{Topic: []byte("no.a")}); !errors.Is(err, broker.ErrPermission) || !strings.Contains(err.Error(), `"no.a"`) {
			t.Fatalf("publish: %v", err)
		}
	}
	s.Publish(&broker.Message{Topic: []byte("no.b")})
	s.Subscribe(1, "no.a", broker.SubOptions{})
	s.Subscribe(2, "no.a", broker.SubOptions{})
	if st := b.Stats(); st.PermissionDenials != 103 {
		t.Fatalf("counted %d denials, want 103", st.PermissionDenials)
	}
	ev := log.of(broker.PermissionDenied)
	if len(ev) != 3 {
		t.Fatalf("%d events, want 3 (publish no.a, publish no.b, subscribe no.a)", len(ev))
	}
	if ev[0].Session.User != "u" || !strings.Contains(ev[0].Reason.Error(), `publish to "no.a"`) {
		t.Fatalf("event %+v", ev[0])
	}
	// A client that tries ever new topics stops being reported, not answered.
	for i := range 1000 {
		s.Publish(&broker.Message{Topic: []byte("no.x" + strings.Repeat("y", i%50) + string(rune('a'+i%26)))})
	}
	if n := len(log.of(broker.PermissionDenied)); n > 256 {
		t.Fatalf("%d events for one session", n)
	}
}

func TestAuthFailuresCounted(t *testing.T) {
	var log eventLog
	b := newBroker(t, broker.Options{Authenticator: permAuth{}, OnEvent: log.add})
	for range 3 {
		if _, err := b.Connect(broker.SessionInfo{Peer: broker.Peer{RemoteAddr: "10.9.9.9:1"}}, broker.Credentials{User: "who"}, &bufConn{}); !errors.Is(err, broker.ErrAuth) {
			t.Fatal(err)
		}
	}
	ev := log.of(broker.AuthFailed)
	if st := b.Stats(); st.AuthFailures != 3 || len(ev) != 3 || ev[0].Session.User != "who" || ev[0].Session.RemoteAddr != "10.9.9.9:1" {
		t.Fatalf("%d failures counted, events %+v", st.AuthFailures, ev)
	}
}

type revokeConn struct {
	bufConn
	mu      sync.Mutex
	revoked []uint32
	closed  error
}

func (c *revokeConn) Revoke(sid uint32, err error) {
	c.mu.Lock()
	c.revoked = append(c.revoked, sid)
	c.mu.Unlock()
}
func (c *revokeConn) Close(err error) { c.mu.Lock(); c.closed = err; c.mu.Unlock() }

// Reauthorize applies new principals to open sessions, revoking what they
// lose, and closes those the new configuration refuses.
func TestReauthorize(t *testing.T) {
	b := newBroker(t, broker.Options{Authenticator: permAuth{"keep": nil, "drop": nil}})
	keepConn, dropConn := &revokeConn{}, &revokeConn{}
	keep, _ := b.Connect(broker.SessionInfo{}, broker.Credentials{User: "keep"}, keepConn)
	drop, _ := b.Connect(broker.SessionInfo{}, broker.Credentials{User: "drop"}, dropConn)
	keep.Subscribe(1, "a.b", broker.SubOptions{})
	keep.Subscribe(2, "ok.b", broker.SubOptions{})
	drop.Subscribe(1, "a.b", broker.SubOptions{})
	gone := errors.New("removed")
	kept, closed := b.Reauthorize(func(info broker.SessionInfo, p broker.Principal) (broker.Principal, error) {
		if info.User == "drop" {
			return broker.Principal{}, gone
		}
		p.Permissions = prefixPerms("a.")
		return p, nil
	})
	if kept != 1 || closed != 1 {
		t.Fatalf("kept %d, closed %d", kept, closed)
	}
	if len(keepConn.revoked) != 1 || keepConn.revoked[0] != 1 || keepConn.closed != nil {
		t.Fatalf("kept session: revoked %v, closed %v", keepConn.revoked, keepConn.closed)
	}
	if !errors.Is(dropConn.closed, gone) {
		t.Fatalf("dropped session closed with %v", dropConn.closed)
	}
	if err := keep.Publish(&broker.Message{Topic: []byte("a.x")}); !errors.Is(err, broker.ErrPermission) {
		t.Fatalf("new permissions not in force: %v", err)
	}
}
