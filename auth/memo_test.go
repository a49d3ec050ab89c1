package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/auth"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
)

// The broker remembers "this rule set allows this topic" with the topic's
// cached match. That memo must never let a publish through that the
// publisher's own rules refuse: not for another user publishing to the
// same topic, and not for the same user after a reload took the topic
// away. And a topic a reload gave back is allowed again at once.
func TestPublishMemoFollowsEachUsersRulesAndReloads(t *testing.T) {
	config := func(aliceMay string) auth.Config {
		return auth.Config{Users: []auth.User{
			{User: "watcher", Password: "pw", Permissions: &auth.Permissions{}},
			{User: "alice", Password: "pw", Permissions: &auth.Permissions{Publish: auth.Rules{Allow: []string{aliceMay}}}},
			{User: "bob", Password: "pw", Permissions: &auth.Permissions{Publish: auth.Rules{Allow: []string{"b.>"}}}},
		}}
	}
	a, err := auth.New(config("a.>"), auth.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	live := auth.NewLive(a)
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{Authenticator: live}})
	watcher := dial(t, srv, "tcp", "watcher")
	all, err := watcher.SubscribeSync(">") // every topic has a subscriber: its match is cached
	if err != nil {
		t.Fatal(err)
	}
	flush(t, watcher)
	alice, bob := dial(t, srv, "tcp", "alice"), dial(t, srv, "tcp", "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	publish := func(c *sdk.Conn) error { return c.PublishAck(ctx, &sdk.Msg{Topic: "a.x"}) }

	// alice's publishes put her rule set's memo on a.x (a topic is cached
	// from its second publish on).
	for range 3 {
		if err := publish(alice); err != nil {
			t.Fatal(err)
		}
		if got := next(all, 2*time.Second); got != "a.x" {
			t.Fatalf("the watcher got %q", got)
		}
	}
	// bob may not publish there, memo or not.
	for range 3 {
		denied(t, "bob on alice's topic", publish(bob), "a.x")
	}

	// A reload takes a.x away from alice: refused at once.
	b, err := auth.New(config("c.>"), auth.Options{}, live.Current())
	if err != nil {
		t.Fatal(err)
	}
	live.Swap(b)
	srv.B.Reauthorize(live.Reauthorize)
	denied(t, "alice after the reload", publish(alice), "a.x")

	// And a reload that gives it back allows it again.
	c, err := auth.New(config("a.>"), auth.Options{}, live.Current())
	if err != nil {
		t.Fatal(err)
	}
	live.Swap(c)
	srv.B.Reauthorize(live.Reauthorize)
	for range 3 {
		if err := publish(alice); err != nil {
			t.Fatalf("alice after the second reload: %v", err)
		}
	}
	denied(t, "bob after the reloads", publish(bob), "a.x")
	if got := next(all, 2*time.Second); got != "a.x" {
		t.Fatalf("the watcher got %q", got)
	}
}
