package mqtt_test

import (
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
)

// Persistent sessions are kept in the data directory: after a restart the
// client finds its session, with what was in flight (sent again with DUP
// and the same packet identifiers), what was queued, its subscriptions
// (which collect messages again before it reconnects), and the QoS 2
// packet identifiers it had sent (not published twice).
func TestSessionsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	e := start(t, map[string]string{"data_dir": dir}, broker.Options{})
	native := e.nativeConn(t)
	r := e.raw(t, packet.V311)
	r.connect(&packet.Connect{ClientID: []byte("keep1"), CleanStart: false})
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("k/#"), QoS: 1}}})
	r.expect(packet.TypeSuback)
	r.send(&packet.Publish{QoS: 2, PacketID: 9, Topic: []byte("k2"), Payload: []byte("qos2 once")})
	r.expect(packet.TypePubrec)
	for _, d := range []string{"f1", "f2"} {
		must(t, native.PublishMsg(qos1("k.a", d)))
	}
	var ids []uint16
	for range 2 {
		ids = append(ids, r.expect(packet.TypePublish).(*packet.Publish).PacketID)
	}
	r.nc.Close()
	for _, d := range []string{"q1", "q2"} {
		must(t, native.PublishMsg(qos1("k.b", d)))
	}
	flush(t, native)
	e.stop()

	e2 := start(t, map[string]string{"data_dir": dir}, broker.Options{})
	native2 := e2.nativeConn(t)
	must(t, native2.PublishMsg(qos1("k.c", "after restart")))
	ns, err := native2.SubscribeSync("k2")
	must(t, err)
	flush(t, native2)
	r = e2.raw(t, packet.V311)
	if ack := r.connect(&packet.Connect{ClientID: []byte("keep1"), CleanStart: false}); !ack.SessionPresent {
		t.Fatalf("session not present after restart:\n%s", e2.logs.String())
	}
	for i, want := range []string{"f1", "f2", "q1", "q2", "after restart"} {
		p := r.expect(packet.TypePublish).(*packet.Publish)
		if string(p.Payload) != want || i < 2 && (!p.Dup || p.PacketID != ids[i]) {
			t.Fatalf("message %d: %q dup %v id %d, want %q", i, p.Payload, p.Dup, p.PacketID, want)
		}
		r.send(&packet.Puback{PacketID: p.PacketID})
	}
	r.send(&packet.Publish{QoS: 2, Dup: true, PacketID: 9, Topic: []byte("k2"), Payload: []byte("qos2 once")})
	r.expect(packet.TypePubrec)
	r.send(&packet.Pubrel{PacketID: 9})
	if c := r.expect(packet.TypePubcomp).(*packet.Pubcomp); c.ReasonCode != 0 {
		t.Fatalf("PUBCOMP %v", c.ReasonCode)
	}
	must(t, native2.Publish("k2", []byte("marker")))
	if m := next(t, ns); string(m.Data) != "marker" {
		t.Fatalf("QoS 2 publish repeated after restart: %q", m.Data)
	}
	_ = sdk.Msg{}
}

// A broker shutdown (drain) keeps persistent sessions for the next start,
// though the broker ends their broker sessions first.
func TestSessionsSurviveBrokerShutdown(t *testing.T) {
	dir := t.TempDir()
	e := start(t, map[string]string{"data_dir": dir}, broker.Options{})
	r := e.raw(t, packet.V5)
	r.connect(persistentConnect("drained", true, 300))
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("d"), QoS: 1}}})
	r.expect(packet.TypeSuback)
	must(t, e.b.Shutdown(ctxT(t)))
	if d := r.closed(); d == nil || d.ReasonCode != packet.ServerShuttingDown {
		t.Fatalf("DISCONNECT %+v", d)
	}
	e.stop()

	e2 := start(t, map[string]string{"data_dir": dir}, broker.Options{})
	r = e2.raw(t, packet.V5)
	if ack := r.connect(persistentConnect("drained", false, 300)); !ack.SessionPresent {
		t.Fatal("session lost in a broker shutdown")
	}
	native := e2.nativeConn(t)
	must(t, native.PublishMsg(qos1("d", "after")))
	if p := r.expect(packet.TypePublish).(*packet.Publish); string(p.Payload) != "after" {
		t.Fatalf("%q", p.Payload)
	}
}

// A will waiting for its delay when the broker stops is kept with the
// session, and published at its time after the restart.
func TestPendingWillSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := start(t, map[string]string{"data_dir": dir}, broker.Options{})
	c := persistentConnect("wr", true, 300)
	c.Will = &packet.Will{Topic: []byte("wr/gone"), Payload: []byte("late will")}
	c.Will.Props.WillDelay = 2
	c.Will.Props.Set(packet.PropWillDelay)
	r := e.raw(t, packet.V5)
	r.connect(c)
	r.nc.Close() // lost: the will waits 2s
	time.Sleep(100 * time.Millisecond)
	e.stop()

	e2 := start(t, map[string]string{"data_dir": dir}, broker.Options{})
	native := e2.nativeConn(t)
	wills, err := native.SubscribeSync("wr.>")
	must(t, err)
	if m := next(t, wills); string(m.Data) != "late will" {
		t.Fatalf("will %q", m.Data)
	}
}

// A restored session's subscriptions are in the broker by the time the
// protocol says it is ready: a message published then is the session's,
// though its client has not reconnected yet.
func TestRestoredSubscriptionsInPlaceWhenReady(t *testing.T) {
	dir := t.TempDir()
	e := start(t, map[string]string{"data_dir": dir}, broker.Options{})
	r := e.raw(t, packet.V311)
	r.connect(&packet.Connect{ClientID: []byte("ready1"), CleanStart: false})
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("rr/#"), QoS: 1}}})
	r.expect(packet.TypeSuback)
	r.nc.Close()
	e.stop()

	// The window is short (the subscription on its way to the broker):
	// restarted many times, a start that does not wait for it shows.
	for range 100 {
		e2 := start(t, map[string]string{"data_dir": dir}, broker.Options{})
		recv, err := e2.b.Receivers("rr.x")
		must(t, err)
		if len(recv) != 1 {
			t.Fatalf("broker has %d receivers for the restored subscription once the protocol is ready, want 1", len(recv))
		}
		e2.stop()
	}
}
