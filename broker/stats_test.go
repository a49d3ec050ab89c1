package broker_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/msgtrans/msgtrans/broker"
)

// denyPrefix refuses publishing and subscribing under a topic prefix.
type denyPrefix string

func (d denyPrefix) MayPublish(topic []byte) bool {
	return !strings.HasPrefix(string(topic), string(d))
}
func (d denyPrefix) MaySubscribe(filter, _ string) (bool, bool) {
	return !strings.HasPrefix(filter, string(d)), false
}
func (d denyPrefix) MayReceive([]byte) bool { return true }

type tokenAuth struct{}

func (tokenAuth) Authenticate(_ broker.SessionInfo, c broker.Credentials) (broker.Principal, error) {
	if c.Token != "ok" {
		return broker.Principal{}, broker.ErrAuth
	}
	return broker.Principal{User: "u", Permissions: denyPrefix("secret.")}, nil
}

// pendingConn says how much waits for its client, as the engine's does.
type pendingConn struct {
	bufConn
	pending int
}

func (c *pendingConn) Pending() int { return c.pending }

func connect(t *testing.T, b *broker.Broker, proto string, conn broker.Conn) *broker.Session {
	t.Helper()
	s, err := b.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: proto}}, broker.Credentials{Token: "ok"}, conn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// What monitoring reads: counters by protocol that outlive their
// sessions, refusals, pending bytes, subscriptions, and who a topic
// reaches.
func TestStatsForMonitoring(t *testing.T) {
	b := newBroker(t, broker.Options{Authenticator: tokenAuth{}, Retained: broker.NewMemoryStore(0, 0)})
	if _, err := b.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "tcp"}}, broker.Credentials{Token: "bad"}, &bufConn{}); !errors.Is(err, broker.ErrAuth) {
		t.Fatalf("bad token: %v", err)
	}
	pub := connect(t, b, "tcp", &bufConn{})
	subConn := &pendingConn{pending: 1234}
	sub := connect(t, b, "ws", subConn)
	worker := connect(t, b, "ws", &bufConn{})
	if err := sub.Subscribe(1, "a.*", broker.SubOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := worker.Subscribe(7, "a.>", broker.SubOptions{Queue: "q"}); err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe(2, "secret.x", broker.SubOptions{}); !errors.Is(err, broker.ErrPermission) {
		t.Fatalf("denied subscribe: %v", err)
	}
	for range 2 {
		if err := pub.Publish(&broker.Message{Topic: []byte("a.b"), Payload: []byte("xyz")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish(&broker.Message{Topic: []byte("secret.x"), Payload: []byte("no")}); !errors.Is(err, broker.ErrPermission) {
		t.Fatalf("denied publish: %v", err)
	}
	if err := pub.Publish(&broker.Message{Topic: []byte("r.kept"), Payload: []byte("12345"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	pub.Close(nil)

	st := b.Stats()
	if st.AuthFailures != 1 || st.PermissionDenials != 2 {
		t.Fatalf("auth failures %d, denials %d", st.AuthFailures, st.PermissionDenials)
	}
	tcp, ws := st.ByProtocol["tcp"], st.ByProtocol["ws"]
	if tcp.Connections != 0 || tcp.TotalConnections != 1 || tcp.MsgsIn != 3 || tcp.BytesIn != 11 {
		t.Fatalf("tcp after its session closed: %+v", tcp)
	}
	if ws.Connections != 2 || ws.MsgsOut != 4 || ws.BytesOut != 12 || ws.MsgsIn != 0 {
		t.Fatalf("ws: %+v", ws)
	}
	if st.Retained != 1 || st.RetainedBytes != len("r.kept")+5 {
		t.Fatalf("retained %d, %d bytes", st.Retained, st.RetainedBytes)
	}

	ss := b.Sessions()
	if len(ss) != 2 || ss[0] != sub || ss[1] != worker {
		t.Fatalf("sessions %v", ss)
	}
	if sub.Pending() != 1234 || worker.Pending() != -1 {
		t.Fatalf("pending %d, %d", sub.Pending(), worker.Pending())
	}
	if subs := sub.Subscriptions(); len(subs) != 1 || subs[0] != (broker.SubscriptionInfo{SID: 1, Filter: "a.*", Delivered: 2}) {
		t.Fatalf("subscriptions %+v", subs)
	}
	rs, err := b.Receivers("a.b")
	if err != nil {
		t.Fatal(err)
	}
	want := []broker.Receiver{
		{Session: sub.ID(), SID: 1, Filter: "a.*"},
		{Session: worker.ID(), SID: 7, Filter: "a.>", Queue: "q"},
	}
	if len(rs) != 2 || rs[0] != want[0] || rs[1] != want[1] {
		t.Fatalf("receivers %+v", rs)
	}
	if rs, err := b.Receivers("b.c"); err != nil || len(rs) != 0 {
		t.Fatalf("receivers of b.c: %v %v", rs, err)
	}
	if _, err := b.Receivers("a..b"); err == nil {
		t.Fatal("an invalid topic was accepted")
	}
}

func TestPluginSystemEvents(t *testing.T) {
	b := newBroker(t, broker.Options{})
	c := newClient(t, b, "watcher")
	got := newCollector()
	if _, err := c.Subscribe("$SYS.plugin.>", got.cb); err != nil {
		t.Fatal(err)
	}
	b.PluginCrashed("mqtt", 4242, 0, errors.New("exit status 2"))
	b.PluginRestarted("mqtt", 4243, 1)
	msgs := got.wait(t, 2)
	var crashed, restarted broker.PluginEvent
	if msgs[0].Topic != broker.SysPluginCrashed || json.Unmarshal(msgs[0].Payload, &crashed) != nil ||
		crashed.Plugin != "mqtt" || crashed.PID != 4242 || crashed.Reason != "exit status 2" || crashed.Server != b.ID() {
		t.Fatalf("crash event %s %s", msgs[0].Topic, msgs[0].Payload)
	}
	if msgs[1].Topic != broker.SysPluginRestarted || json.Unmarshal(msgs[1].Payload, &restarted) != nil ||
		restarted.PID != 4243 || restarted.Restarts != 1 {
		t.Fatalf("restart event %s %s", msgs[1].Topic, msgs[1].Payload)
	}
}
