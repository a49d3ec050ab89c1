package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
)

// testPerms refuses publishing and subscribing under "deny.", filters
// wildcard subscriptions, and hides topics under "secret." from them.
type testPerms struct{}

func (testPerms) MayPublish(topic []byte) bool { return !bytes.HasPrefix(topic, []byte("deny.")) }
func (testPerms) MaySubscribe(filter, _ string) (bool, bool) {
	if strings.HasPrefix(filter, "deny.") {
		return false, false
	}
	return true, strings.ContainsAny(filter, "*>")
}
func (testPerms) MayReceive(topic []byte) bool { return !bytes.HasPrefix(topic, []byte("secret.")) }

// denyAll refuses everything.
type denyAll struct{}

func (denyAll) MayPublish([]byte) bool                   { return false }
func (denyAll) MaySubscribe(string, string) (bool, bool) { return false, false }
func (denyAll) MayReceive([]byte) bool                   { return false }

type permAuth struct{}

func (permAuth) Authenticate(_ broker.SessionInfo, c broker.Credentials) (broker.Principal, error) {
	switch c.User {
	case "limited":
		return broker.Principal{User: c.User, Permissions: testPerms{}}, nil
	case "nobody":
		return broker.Principal{User: c.User, Permissions: denyAll{}}, nil
	}
	return broker.Principal{User: c.User}, nil
}

// sessions records the broker sessions by user as they open.
type sessions struct {
	mu     sync.Mutex
	b      *broker.Broker
	byUser map[string][]uint64
}

func (s *sessions) event(e broker.Event) {
	if e.Kind == broker.SessionOpened {
		s.mu.Lock()
		s.byUser[e.Session.User] = append(s.byUser[e.Session.User], e.Session.ID)
		s.mu.Unlock()
	}
}

func (s *sessions) last(t *testing.T, user string) *broker.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.byUser[user]
	if len(ids) == 0 {
		t.Fatalf("no session for %q", user)
	}
	bs, ok := s.b.Session(ids[len(ids)-1])
	if !ok {
		t.Fatalf("session of %q gone", user)
	}
	return bs
}

func startPermServer(t *testing.T) (*adapterstest.Server, *sessions) {
	ss := &sessions{byUser: map[string][]uint64{}}
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{Authenticator: permAuth{}, OnEvent: ss.event}})
	ss.b = srv.B
	return srv, ss
}

func expectErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

// TestPermissionsOnEveryTransport checks that the session's principal is
// asked on every path a client has: publish (acked or not), subscribe,
// queue subscribe, live and retained delivery, and that a swapped principal
// revokes what it no longer allows.
func TestPermissionsOnEveryTransport(t *testing.T) {
	srv, ss := startPermServer(t)
	admin := connect(t, srv.URL, sdk.UserInfo("admin", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, topic := range []string{"secret.r", "open.r"} {
		if err := admin.PublishAck(ctx, &sdk.Msg{Topic: topic, Data: []byte(topic), Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			errs := make(chan error, 16)
			c := dialTransport(t, srv, tr, sdk.UserInfo("limited", ""),
				sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) { errs <- err }))

			err := c.PublishAck(ctx, &sdk.Msg{Topic: "deny.x", Data: []byte("no")})
			expectErr(t, "acked publish to deny.x", err, sdk.ErrPermission)
			if err := c.Publish("deny.x", []byte("no")); err != nil {
				t.Fatal(err)
			}
			flush(t, c)
			expectErr(t, "plain publish to deny.x", <-errs, sdk.ErrPermission)

			for _, q := range []string{"", "workers"} {
				var s *sdk.Subscription
				if q == "" {
					s, err = c.SubscribeSync("deny.x")
				} else {
					s, err = c.QueueSubscribe("deny.x", q, func(*sdk.Msg) {})
				}
				if err != nil {
					t.Fatal(err)
				}
				flush(t, c)
				expectErr(t, "subscribe to deny.x in "+q, <-errs, sdk.ErrPermission)
				if s.IsValid() || !errors.Is(s.Err(), sdk.ErrPermission) {
					t.Fatalf("refused subscription (queue %q): valid %v, Err %v", q, s.IsValid(), s.Err())
				}
			}

			all, err := c.SubscribeSync(">")
			if err != nil {
				t.Fatal(err)
			}
			flush(t, c)
			for _, topic := range []string{"secret.live", "open.live"} {
				if err := admin.PublishAck(ctx, &sdk.Msg{Topic: topic, Data: []byte(topic)}); err != nil {
					t.Fatal(err)
				}
			}
			// Retained first, then live; secret.* neither way.
			for _, want := range []string{"open.r", "open.live"} {
				m, err := all.NextMsg(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if m.Topic != want {
					t.Fatalf("got %q, want %q (secret.* must be filtered)", m.Topic, want)
				}
			}

			// The principal changes: "open.>" is no longer allowed.
			open, err := c.SubscribeSync("open.>")
			if err != nil {
				t.Fatal(err)
			}
			flush(t, c)
			if _, err := open.NextMsg(ctx); err != nil { // its retained message
				t.Fatal(err)
			}
			bs := ss.last(t, "limited")
			bs.SetPrincipal(broker.Principal{User: "limited", Permissions: revokeOpen{}})
			expectErr(t, "revoked subscription", <-errs, sdk.ErrPermission)
			if _, err := open.NextMsg(ctx); !errors.Is(err, sdk.ErrPermission) {
				t.Fatalf("NextMsg on the revoked subscription: %v", err)
			}
			if !all.IsValid() {
				t.Fatal("the still-allowed subscription was revoked too")
			}
			c.Close()
		})
	}
}

// revokeOpen is testPerms without "open.>".
type revokeOpen struct{ testPerms }

func (revokeOpen) MaySubscribe(filter, q string) (bool, bool) {
	if strings.HasPrefix(filter, "open.") {
		return false, false
	}
	return testPerms{}.MaySubscribe(filter, q)
}

func TestDenyAllOnEveryTransport(t *testing.T) {
	srv, _ := startPermServer(t)
	admin := connect(t, srv.URL)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			errs := make(chan error, 16)
			c := dialTransport(t, srv, tr, sdk.UserInfo("nobody", ""),
				sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) { errs <- err }))
			defer c.Close()
			expectErr(t, "acked publish", c.PublishAck(ctx, &sdk.Msg{Topic: "a", Data: []byte("x")}), sdk.ErrPermission)
			expectErr(t, "retained publish", c.PublishAck(ctx, &sdk.Msg{Topic: "a", Data: []byte("x"), Retain: true}), sdk.ErrPermission)
			if _, err := c.Subscribe(">", func(*sdk.Msg) { t.Error("a deny-all session received a message") }); err != nil {
				t.Fatal(err)
			}
			flush(t, c)
			expectErr(t, "subscribe", <-errs, sdk.ErrPermission)
			// The refused subscription is not live: a request finds nobody.
			_, err := admin.Request(ctx, "a", nil)
			expectErr(t, "request to the refused filter", err, sdk.ErrNoResponders)
			flush(t, c)
		})
	}
}
