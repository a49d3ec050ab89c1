package plugins_test

import (
	"context"
	"strings"
	"testing"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/auth"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/plugins"
	"github.com/msgtrans/msgtrans/sdk"
)

// The auth package's rules apply to a plugin's sessions as to native ones:
// the text plugin logs its sessions in with the token, which acts with
// default_permissions; refusals come back in the plugin's own protocol,
// naming the topic, and retained replay is filtered.
func TestACLOnPluginSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		a, err := auth.New(auth.Config{
			Token: "tok",
			Users: []auth.User{{User: "admin", Password: "pw", Permissions: &auth.Permissions{}}},
			DefaultPermissions: &auth.Permissions{
				Publish:   auth.Rules{Allow: []string{"pub.>"}, Deny: []string{"pub.no.>"}},
				Subscribe: auth.Rules{Allow: []string{"sub.>", "q.> workers"}, Deny: []string{"sub.no.>"}},
			},
		}, auth.Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg := adapterstest.Config{Broker: broker.Options{Authenticator: auth.NewLive(a)}}
		e := startWith(t, be, cfg, map[string]string{"token": "tok"}, plugins.Options{})
		admin, err := sdk.Connect(e.srv.URL, sdk.UserInfo("admin", "pw"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		for _, topic := range []string{"sub.no.r", "sub.r"} {
			if err := admin.PublishAck(ctx, &sdk.Msg{Topic: topic, Data: []byte("kept"), Retain: true}); err != nil {
				t.Fatal(err)
			}
		}
		watch, err := admin.SubscribeSync("pub.>")
		if err != nil {
			t.Fatal(err)
		}
		flush(t, admin)

		text := dialText(t, e.pluginAddr(t))
		refused := func(cmd, topic string) {
			t.Helper()
			if l := text.cmd(cmd, "-ERR "); !strings.Contains(l, "permission denied") || !strings.Contains(l, topic) {
				t.Fatalf("%s answered %q, want a permission error naming %s", cmd, l, topic)
			}
		}
		text.cmd("PUB pub.yes hello", "+OK")
		refused("PUB pub.no.x x", "pub.no.x")
		refused("PUB other x", "other")
		refused("SUB sub.no.x", "sub.no.x")
		refused("SUB other", "other")
		text.cmd("SUB q.jobs workers", "+OK")
		refused("SUB q.more others", "q.more") // group others is not allowed
		refused("SUB q.other", "q.other")
		// sub.> overlaps sub.no.>: the subscription is filtered. Its
		// retained replay (sub.r, not sub.no.r) may come before its +OK.
		text.send("SUB sub.>")
		got := map[string]bool{}
		for range 2 {
			got[text.expect("")] = true
		}
		if !got["+OK"] || !got["MSG sub.r kept"] {
			t.Fatalf("SUB sub.> brought %v, want +OK and the retained sub.r only", got)
		}

		if m, err := watch.NextMsg(ctx); err != nil || m.Topic != "pub.yes" {
			t.Fatalf("the allowed publish: %v %v", m, err)
		}
		// The retained replay of sub.> skipped sub.no.r; so does live traffic.
		if err := admin.PublishAck(ctx, &sdk.Msg{Topic: "sub.no.live", Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if err := admin.PublishAck(ctx, &sdk.Msg{Topic: "sub.live", Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		text.expect("MSG sub.live ")
		text.cmd("PING", "PONG")
		if st := e.srv.B.Stats(); st.PermissionDenials != 6 {
			t.Fatalf("%d denials counted, want 6", st.PermissionDenials)
		}
	})
}
