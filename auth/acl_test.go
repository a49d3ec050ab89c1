package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/auth"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
)

// aclConfig: admin may do anything; limited has allow and deny rules for
// publish, subscribe and queue groups; responder may publish nothing but
// answers to requests it received.
func aclConfig() auth.Config {
	return auth.Config{Users: []auth.User{
		{User: "admin", Password: "pw", Permissions: &auth.Permissions{}},
		{User: "limited", Password: "pw", Permissions: &auth.Permissions{
			Publish:   auth.Rules{Allow: []string{"pub.>"}, Deny: []string{"pub.no.>"}},
			Subscribe: auth.Rules{Allow: []string{"sub.>", "q.> workers", "_INBOX.>"}, Deny: []string{"sub.no.>"}},
		}},
		{User: "responder", Password: "pw", Permissions: &auth.Permissions{
			Publish:        auth.Rules{Allow: []string{}}, // nothing but answers
			Subscribe:      auth.Rules{Allow: []string{"svc.>", "_INBOX.>"}},
			AllowResponses: &auth.Responses{Max: 1, Expires: time.Minute},
		}},
	}}
}

func startACL(t *testing.T) (*adapterstest.Server, *auth.Live) {
	t.Helper()
	a, err := auth.New(aclConfig(), auth.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	live := auth.NewLive(a)
	return adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{Authenticator: live}}), live
}

var transports = []string{"tcp", "ws", "quic"}

func dial(t *testing.T, srv *adapterstest.Server, tr, user string, opts ...sdk.Option) *sdk.Conn {
	t.Helper()
	opts = append(opts, sdk.UserInfo(user, "pw"), sdk.Name(user+"-"+tr))
	url := map[string]string{"tcp": srv.URL, "ws": srv.WSURL, "quic": srv.QUICURL}[tr]
	if tr == "quic" {
		opts = append(opts, sdk.PinnedCertSHA256(srv.CertSHA256))
	}
	c, err := sdk.Connect(url, opts...)
	if err != nil {
		t.Fatalf("%s as %s: %v", tr, user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func flush(t *testing.T, c *sdk.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func denied(t *testing.T, what string, err error, topic string) {
	t.Helper()
	if !errors.Is(err, sdk.ErrPermission) || !strings.Contains(err.Error(), topic) {
		t.Fatalf("%s: %v, want a permission error naming %q", what, err, topic)
	}
}

// next returns the next message's topic, or "" if none comes within d.
func next(s *sdk.Subscription, d time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := s.NextMsg(ctx)
	if err != nil {
		return ""
	}
	return m.Topic
}

// The permission matrix over TCP, WebSocket and QUIC: allow and deny for
// publish (plain and acked), subscribe, queue subscribe and retained
// replay, with the auth package's rules.
func TestACLMatrixOnEveryTransport(t *testing.T) {
	srv, _ := startACL(t)
	admin := dial(t, srv, "tcp", "admin")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, topic := range []string{"sub.r", "sub.no.r"} {
		if err := admin.PublishAck(ctx, &sdk.Msg{Topic: topic, Data: []byte("retained"), Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	watch, err := admin.SubscribeSync("pub.>")
	if err != nil {
		t.Fatal(err)
	}
	flush(t, admin)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			errs := make(chan error, 64)
			c := dial(t, srv, tr, "limited", sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) { errs <- err }))
			before := srv.B.Stats().PermissionDenials

			// Publish: allowed, denied by a deny rule, outside the allow list.
			if err := c.PublishAck(ctx, &sdk.Msg{Topic: "pub.yes." + tr, Data: []byte("ok")}); err != nil {
				t.Fatalf("allowed publish: %v", err)
			}
			denied(t, "acked publish to a denied topic", c.PublishAck(ctx, &sdk.Msg{Topic: "pub.no." + tr}), "pub.no."+tr)
			denied(t, "acked publish outside the allow list", c.PublishAck(ctx, &sdk.Msg{Topic: "other." + tr}), "other."+tr)
			for range 5 { // refused each time, reported once
				if err := c.Publish("pub.no.plain", []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			flush(t, c)
			for range 5 {
				denied(t, "plain publish to a denied topic", <-errs, "pub.no.plain")
			}
			if got := next(watch, 2*time.Second); got != "pub.yes."+tr {
				t.Fatalf("the watcher got %q, want pub.yes.%s", got, tr)
			}
			if got := next(watch, 100*time.Millisecond); got != "" {
				t.Fatalf("a refused publish was delivered: %q", got)
			}

			// Subscribe: within the allow list; denied; outside it.
			ok, err := c.SubscribeSync("sub.yes")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"sub.no.x", "other"} {
				s, err := c.SubscribeSync(f)
				if err != nil {
					t.Fatal(err)
				}
				flush(t, c)
				denied(t, "subscribe to "+f, <-errs, f)
				if s.IsValid() {
					t.Fatalf("refused subscription to %s is still valid", f)
				}
			}

			// Queue groups: the rule allows group workers only.
			q, err := c.QueueSubscribe("q.jobs", "workers", func(*sdk.Msg) {})
			if err != nil {
				t.Fatal(err)
			}
			for _, group := range []string{"others", ""} {
				var s *sdk.Subscription
				if group == "" {
					s, err = c.SubscribeSync("q.jobs")
				} else {
					s, err = c.QueueSubscribe("q.jobs", group, func(*sdk.Msg) {})
				}
				if err != nil {
					t.Fatal(err)
				}
				flush(t, c)
				denied(t, "subscribe to q.jobs in group "+group, <-errs, "q.jobs")
				if s.IsValid() {
					t.Fatalf("refused subscription in group %q is valid", group)
				}
			}
			if !q.IsValid() || !ok.IsValid() {
				t.Fatal("an allowed subscription was refused")
			}

			// Retained replay and live traffic through a filter that
			// overlaps a deny rule: only the allowed topics arrive.
			all, err := c.SubscribeSync("sub.>")
			if err != nil {
				t.Fatal(err)
			}
			flush(t, c)
			for _, topic := range []string{"sub.no.live", "sub.live"} {
				if err := admin.PublishAck(ctx, &sdk.Msg{Topic: topic}); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range []string{"sub.r", "sub.live"} {
				if got := next(all, 2*time.Second); got != want {
					t.Fatalf("through sub.>: got %q, want %q (sub.no.* is denied)", got, want)
				}
			}
			if got := next(all, 100*time.Millisecond); got != "" {
				t.Fatalf("through sub.>: unexpected %q", got)
			}
			// Every refusal was counted: 3 publishes acked or not (5
			// plain ones), 2 subscriptions, 2 queue subscriptions.
			if n := srv.B.Stats().PermissionDenials - before; n != 2+5+2+2 {
				t.Fatalf("%d denials counted, want 11", n)
			}
		})
	}
}

// allow_responses: a user with no publish permission answers the one
// request it received, once, and nothing else.
func TestAllowResponsesOnEveryTransport(t *testing.T) {
	srv, _ := startACL(t)
	admin := dial(t, srv, "tcp", "admin")
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			errs := make(chan error, 8)
			r := dial(t, srv, tr, "responder", sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) { errs <- err }))
			svc, err := r.SubscribeSync("svc." + tr)
			if err != nil {
				t.Fatal(err)
			}
			flush(t, r)
			got := make(chan *sdk.Msg, 1)
			go func() {
				m, err := admin.Request(ctx, "svc."+tr, []byte("ping"))
				if err != nil {
					t.Error(err)
				}
				got <- m
			}()
			req, err := svc.NextMsg(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := req.Respond([]byte("pong")); err != nil {
				t.Fatal(err)
			}
			if m := <-got; m == nil || string(m.Data) != "pong" {
				t.Fatalf("reply %v", m)
			}
			// A second answer to the same request is refused (max 1), and
			// so is a publish to an inbox it never received.
			denied(t, "second reply", r.PublishAck(ctx, &sdk.Msg{Topic: req.Reply}), req.Reply)
			denied(t, "unsolicited reply", r.PublishAck(ctx, &sdk.Msg{Topic: "_INBOX.other.1"}), "_INBOX.other.1")
		})
	}
}

// A reload (Live.Swap and Broker.Reauthorize) gives open sessions their
// new permissions: a subscription no longer allowed is revoked with an
// error to its client, the others keep flowing, and a removed user's
// sessions are closed.
func TestReloadRevokesOnEveryTransport(t *testing.T) {
	srv, live := startACL(t)
	admin := dial(t, srv, "tcp", "admin")
	type client struct {
		c        *sdk.Conn
		errs     chan error
		yes, rev *sdk.Subscription
	}
	clients := map[string]*client{}
	for _, tr := range transports {
		cl := &client{errs: make(chan error, 8)}
		cl.c = dial(t, srv, tr, "limited", sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) { cl.errs <- err }))
		var err error
		if cl.yes, err = cl.c.SubscribeSync("sub.keep"); err != nil {
			t.Fatal(err)
		}
		if cl.rev, err = cl.c.SubscribeSync("sub.gone"); err != nil {
			t.Fatal(err)
		}
		flush(t, cl.c)
		clients[tr] = cl
	}
	gone := make(chan error, 1)
	dial(t, srv, "ws", "responder", sdk.MaxReconnects(0), sdk.DisconnectHandler(func(_ *sdk.Conn, err error) { gone <- err }))

	cfg := aclConfig()
	cfg.Users[1].Permissions.Subscribe.Deny = append(cfg.Users[1].Permissions.Subscribe.Deny, "sub.gone")
	cfg.Users = cfg.Users[:2] // responder removed
	a, err := auth.New(cfg, auth.Options{}, live.Current())
	if err != nil {
		t.Fatal(err)
	}
	live.Swap(a)
	if kept, closed := srv.B.Reauthorize(live.Reauthorize); kept != 4 || closed != 1 {
		t.Fatalf("reload kept %d sessions and closed %d, want 4 and 1", kept, closed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, topic := range []string{"sub.gone", "sub.keep"} {
		if err := admin.PublishAck(ctx, &sdk.Msg{Topic: topic}); err != nil {
			t.Fatal(err)
		}
	}
	for tr, cl := range clients {
		denied(t, tr+": revocation", <-cl.errs, "sub.gone")
		if _, err := cl.rev.NextMsg(ctx); !errors.Is(err, sdk.ErrPermission) {
			t.Fatalf("%s: revoked subscription: %v", tr, err)
		}
		if got := next(cl.yes, 2*time.Second); got != "sub.keep" {
			t.Fatalf("%s: the allowed subscription got %q", tr, got)
		}
	}
	select {
	case err := <-gone:
		if !errors.Is(err, sdk.ErrAuth) || !strings.Contains(err.Error(), "removed") {
			t.Fatalf("the removed user's session ended with %v, want an auth error saying why", err)
		}
	case <-ctx.Done():
		t.Fatal("the removed user's session is still open")
	}
}
