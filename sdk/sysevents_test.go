package sdk_test

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

type tokenAuth struct{}

func (tokenAuth) Authenticate(_ broker.SessionInfo, c broker.Credentials) (broker.Principal, error) {
	if c.Token != "ok" {
		return broker.Principal{}, broker.ErrAuth
	}
	return broker.Principal{User: c.User}, nil
}

func sysEvent(t *testing.T, s *sdk.Subscription, topic string) broker.SysEvent {
	t.Helper()
	m := next(t, s)
	if m.Topic != topic {
		t.Fatalf("got %s, want %s", m.Topic, topic)
	}
	var e broker.SysEvent
	if err := json.Unmarshal(m.Data, &e); err != nil {
		t.Fatalf("%s: %v in %s", topic, err, m.Data)
	}
	return e
}

// The broker reports sessions coming and going, and refused credentials, on
// $SYS topics; a subscriber to ">" does not see them.
func TestSystemEvents(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{Authenticator: tokenAuth{}, MaxPending: 64 << 10}})
	watcher := connect(t, srv.URL, sdk.Token("ok"), sdk.Name("watcher"))
	events := subSync(t, watcher, "$SYS.>")
	flush(t, watcher)

	c := connect(t, srv.WSURL, sdk.Token("ok"), sdk.UserInfo("ann", ""), sdk.Name("app"))
	opened := sysEvent(t, events, broker.SysConnOpened)
	if opened.Server != srv.B.ID() || opened.Protocol != "ws" || opened.Name != "app" || opened.User != "ann" || opened.Session == 0 || opened.Remote == "" {
		t.Fatalf("opened: %+v", opened)
	}
	c.Close()
	closed := sysEvent(t, events, broker.SysConnClosed)
	if closed.Session != opened.Session || closed.Reason != "" {
		t.Fatalf("closed after a clean close: %+v", closed)
	}

	if _, err := sdk.Connect(srv.URL, sdk.Token("wrong"), sdk.UserInfo("mallory", "pw"), sdk.MaxReconnects(0)); !errors.Is(err, sdk.ErrAuth) {
		t.Fatalf("connect with a bad token: %v", err)
	}
	failed := sysEvent(t, events, broker.SysAuthFailed)
	if failed.User != "mallory" || failed.Session != 0 || !strings.Contains(failed.Reason, "authentication") || strings.Contains(string(mustJSON(t, failed)), "pw") {
		t.Fatalf("auth failure: %+v", failed)
	}

	// A subscriber that never reads its socket is cut off as a slow
	// consumer.
	raw, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	hello := wire.AppendHello(nil, &wire.Hello{Name: "slow", Token: "ok"})
	raw.Write(wire.AppendPing(wire.AppendSub(hello, 1, "flood", "")))
	raw.SetReadDeadline(time.Now().Add(wait))
	r := wire.NewReader(raw, wire.DefaultMaxFrame)
	for f := (wire.Frame{}); f.Type != wire.TypePong; { // WELCOME, then the PONG: the SUB is in place
		if err := r.Next(&f); err != nil {
			t.Fatal(err)
		}
	}
	if e := sysEvent(t, events, broker.SysConnOpened); e.Name != "slow" {
		t.Fatalf("opened: %+v", e)
	}
	pub := connect(t, srv.URL, sdk.Token("ok"), sdk.Name("pub"))
	sysEvent(t, events, broker.SysConnOpened)
	big := make([]byte, 32<<10)
	for range 64 { // 2 MiB for a 64 KiB limit and socket buffers
		pub.Publish("flood", big)
	}
	flush(t, pub)
	if e := sysEvent(t, events, broker.SysConnClosed); e.Name != "slow" || !strings.Contains(e.Reason, "slow consumer") {
		t.Fatalf("closed: %+v", e)
	}
	if e := sysEvent(t, events, broker.SysConnSlow); e.Name != "slow" {
		t.Fatalf("slow: %+v", e)
	}

	// ">" does not match system topics.
	spy := connect(t, srv.URL, sdk.Token("ok"), sdk.Name("spy"))
	everything := subSync(t, spy, ">")
	flush(t, spy)
	sysEvent(t, events, broker.SysConnOpened) // the spy's own
	pub.Close()
	sysEvent(t, events, broker.SysConnClosed) // routed before the marker below
	watcher.Publish("marker", nil)
	if m := next(t, everything); m.Topic != "marker" {
		t.Fatalf("\">\" received %s", m.Topic)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
