package plugins_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/plugins"
	"github.com/msgtrans/msgtrans/sdk"
)

// protocolAuth gives the sessions that arrive by one protocol the given
// permissions, and every other session none.
type protocolAuth struct {
	protocol string
	perms    broker.Permissions
}

func (a protocolAuth) Authenticate(info broker.SessionInfo, _ broker.Credentials) (broker.Principal, error) {
	if info.Peer.Protocol == a.protocol {
		return broker.Principal{User: a.protocol + " client", Permissions: a.perms}, nil
	}
	return broker.Principal{}, nil
}

type denyAll struct{}

func (denyAll) MayPublish([]byte) bool                   { return false }
func (denyAll) MaySubscribe(string, string) (bool, bool) { return false, false }
func (denyAll) MayReceive([]byte) bool                   { return false }

// A plugin's sessions get the permissions the Authenticator gives them, by
// the plugin's name, as native sessions do: a text client denied everything
// has each refusal reported in its own protocol, and its refused
// subscription gives it no interest in the topic.
func TestPermissionsApplyToPluginSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		cfg := adapterstest.Config{Broker: broker.Options{Authenticator: protocolAuth{"text", denyAll{}}}}
		e := startWith(t, be, cfg, nil, plugins.Options{})
		text := dialText(t, e.pluginAddr(t))
		native := sdkConn(t, e.srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()

		// The native session is not restricted: it may subscribe to what
		// the text client publishes.
		denied, err := native.SubscribeSync("denied.>")
		if err != nil {
			t.Fatal(err)
		}
		flush(t, native)
		if !denied.IsValid() {
			t.Fatal("the native subscription was refused")
		}
		before := e.srv.B.Stats()

		// PUB is answered with the refusal.
		if l := text.cmd("PUB denied.pub x", "-ERR "); !strings.Contains(l, "permission denied") {
			t.Fatalf("PUB answered %q, want permission denied", l)
		}
		// SUB too, saying why.
		if l := text.cmd("SUB perm.sub", "-ERR "); !strings.Contains(l, "permission denied") {
			t.Fatalf("SUB answered %q, want permission denied", l)
		}
		// SEND has no answer: its refusal comes on an ERROR line, before
		// the PONG of the PING after it.
		text.send("SEND denied.send x")
		text.send("PING")
		if l := text.expect("ERROR "); !strings.Contains(l, "permission denied") {
			t.Fatalf("SEND reported as %q, want permission denied", l)
		}
		text.expect("PONG")

		// The PONG came after the broker had both publishes: neither
		// reached the native subscriber.
		if st := e.srv.B.Stats(); st.MsgsOut != before.MsgsOut {
			t.Fatalf("refused publishes delivered: %d deliveries, %d before", st.MsgsOut, before.MsgsOut)
		}

		// The refused SUB left no interest in perm.sub: a publish to it
		// reaches nobody, and a request to it gets no responders at once.
		before = e.srv.B.Stats()
		if err := native.Publish("perm.sub", []byte("anyone?")); err != nil {
			t.Fatal(err)
		}
		flush(t, native)
		st := e.srv.B.Stats()
		if st.MsgsIn != before.MsgsIn+1 {
			t.Fatalf("the broker got %d publishes, want 1", st.MsgsIn-before.MsgsIn)
		}
		if st.MsgsOut != before.MsgsOut {
			t.Fatalf("a publish to perm.sub was delivered %d times", st.MsgsOut-before.MsgsOut)
		}
		if _, err := native.Request(ctx, "perm.sub", []byte("anyone?")); !errors.Is(err, sdk.ErrNoResponders) {
			t.Fatalf("request to perm.sub: %v, want no responders", err)
		}

		text.cmd("PING", "PONG") // refusals do not end the session
	})
}
