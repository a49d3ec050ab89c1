package mqtt_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.golang/paho"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
)

func persistentConnect(id string, clean bool, expiry uint32) *packet.Connect {
	p := &packet.Connect{ClientID: []byte(id), CleanStart: clean}
	p.Props.SessionExpiry = expiry
	p.Props.Set(packet.PropSessionExpiry)
	return p
}

func qos1(topic, data string) *sdk.Msg {
	return &sdk.Msg{Topic: topic, Data: []byte(data), Header: sdk.Header{"MQTT-QoS": {"1"}}}
}

// A persistent session keeps its subscriptions while its client is away,
// queues QoS 1 and 2 messages for it, and on reconnection sends again,
// with DUP and the same packet identifier, what was in flight and not
// acknowledged, then what was queued.
func TestPersistentSessionQueuesAndRedelivers(t *testing.T) {
	e := start(t, nil, broker.Options{})
	native := e.nativeConn(t)
	r := e.raw(t, packet.V5)
	if ack := r.connect(persistentConnect("p1", true, 300)); ack.SessionPresent {
		t.Fatal("new session present")
	}
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("q/#"), QoS: 2}}})
	r.expect(packet.TypeSuback)
	must(t, native.PublishMsg(qos1("q.a", "in flight")))
	p := r.expect(packet.TypePublish).(*packet.Publish)
	id := p.PacketID
	if p.Dup || string(p.Payload) != "in flight" {
		t.Fatalf("%+v", p)
	}
	r.nc.Close() // not acknowledged

	time.Sleep(50 * time.Millisecond)
	must(t, native.PublishMsg(qos1("q.b", "queued 1")))
	must(t, native.Publish("q.c", []byte("qos 0, dropped")))
	must(t, native.PublishMsg(&sdk.Msg{Topic: "q.d", Data: []byte("queued 2"), Header: sdk.Header{"MQTT-QoS": {"2"}}}))
	flush(t, native)

	r = e.raw(t, packet.V5)
	if ack := r.connect(persistentConnect("p1", false, 300)); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	p = r.expect(packet.TypePublish).(*packet.Publish)
	if !p.Dup || p.PacketID != id || string(p.Payload) != "in flight" {
		t.Fatalf("redelivery: dup %v id %d (want %d) %q", p.Dup, p.PacketID, id, p.Payload)
	}
	// The QoS 0 message published while the client was away may still
	// come, if the session handled it only after the reconnection (MQTT
	// allows either); the QoS 1 and 2 ones must, in order.
	nextQoS := func() *packet.Publish {
		for {
			if p := r.expect(packet.TypePublish).(*packet.Publish); p.QoS > 0 {
				return p
			}
		}
	}
	r.send(&packet.Puback{PacketID: p.PacketID})
	p = nextQoS()
	if p.Dup || string(p.Payload) != "queued 1" || p.QoS != 1 {
		t.Fatalf("%+v", p)
	}
	r.send(&packet.Puback{PacketID: p.PacketID})
	p = nextQoS()
	if string(p.Payload) != "queued 2" || p.QoS != 2 {
		t.Fatalf("%+v", p)
	}
	// QoS 2 out: PUBREC -> PUBREL, kept across a reconnection, -> PUBCOMP.
	id2 := p.PacketID
	r.send(&packet.Pubrec{PacketID: id2})
	if rel := r.expect(packet.TypePubrel).(*packet.Pubrel); rel.PacketID != id2 {
		t.Fatal(rel.PacketID)
	}
	r.nc.Close()
	r = e.raw(t, packet.V5)
	r.connect(persistentConnect("p1", false, 300))
	if rel := r.expect(packet.TypePubrel).(*packet.Pubrel); rel.PacketID != id2 {
		t.Fatalf("PUBREL not sent again: %d", rel.PacketID)
	}
	r.send(&packet.Pubcomp{PacketID: id2})

	// A clean start discards the session.
	r.nc.Close()
	r = e.raw(t, packet.V5)
	if ack := r.connect(persistentConnect("p1", true, 0)); ack.SessionPresent {
		t.Fatal("clean start: session present")
	}
	must(t, native.PublishMsg(qos1("q.e", "nobody")))
	flush(t, native)
	if p, err := r.read(200 * time.Millisecond); err == nil {
		t.Fatalf("subscription survived a clean start: %v", p.Type())
	}
}

// A full offline queue drops its oldest messages (and counts them).
func TestOfflineQueueBound(t *testing.T) {
	e := start(t, map[string]string{"max_queued": "3"}, broker.Options{})
	native := e.nativeConn(t)
	r := e.raw(t, packet.V311)
	r.connect(&packet.Connect{ClientID: []byte("b1"), CleanStart: false})
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("b"), QoS: 1}}})
	r.expect(packet.TypeSuback)
	r.send(&packet.Disconnect{})
	r.closed()
	for i := range 5 {
		must(t, native.PublishMsg(qos1("b", string('0'+rune(i)))))
	}
	flush(t, native)
	time.Sleep(50 * time.Millisecond)
	r = e.raw(t, packet.V311)
	if ack := r.connect(&packet.Connect{ClientID: []byte("b1"), CleanStart: false}); !ack.SessionPresent {
		t.Fatal("3.1.1 session not present")
	}
	for _, want := range []string{"2", "3", "4"} {
		p := r.expect(packet.TypePublish).(*packet.Publish)
		if string(p.Payload) != want {
			t.Fatalf("got %q, want %q", p.Payload, want)
		}
		r.send(&packet.Puback{PacketID: p.PacketID})
	}
}

// QoS 2 from a client is published exactly once, even when the client
// sends the PUBLISH again (DUP) after a reconnection, before PUBREL.
func TestQoS2InboundExactlyOnce(t *testing.T) {
	e := start(t, nil, broker.Options{})
	native := e.nativeConn(t)
	ns, err := native.SubscribeSync("x2")
	must(t, err)
	flush(t, native)
	r := e.raw(t, packet.V5)
	r.connect(persistentConnect("q2", true, 300))
	pub := &packet.Publish{QoS: 2, PacketID: 9, Topic: []byte("x2"), Payload: []byte("once")}
	r.send(pub)
	if rec := r.expect(packet.TypePubrec).(*packet.Pubrec); rec.PacketID != 9 || rec.ReasonCode != 0 {
		t.Fatalf("%+v", rec)
	}
	r.nc.Close()
	r = e.raw(t, packet.V5)
	r.connect(persistentConnect("q2", false, 300))
	pub.Dup = true
	r.send(pub)
	if rec := r.expect(packet.TypePubrec).(*packet.Pubrec); rec.PacketID != 9 {
		t.Fatalf("%+v", rec)
	}
	r.send(&packet.Pubrel{PacketID: 9})
	if c := r.expect(packet.TypePubcomp).(*packet.Pubcomp); c.PacketID != 9 || c.ReasonCode != 0 {
		t.Fatalf("%+v", c)
	}
	r.send(&packet.Pubrel{PacketID: 9})
	if c := r.expect(packet.TypePubcomp).(*packet.Pubcomp); c.ReasonCode != packet.PacketIDNotFound {
		t.Fatalf("second PUBREL: %+v", c)
	}
	if m := next(t, ns); string(m.Data) != "once" {
		t.Fatal(string(m.Data))
	}
	must(t, native.Publish("x2", []byte("marker")))
	if m := next(t, ns); string(m.Data) != "marker" {
		t.Fatalf("published twice: %q", m.Data)
	}
}

// A 5.0 will with a delay is not published if the client comes back to
// its session in time; it is when the session ends first.
func TestWillDelay(t *testing.T) {
	e := start(t, nil, broker.Options{})
	native := e.nativeConn(t)
	wills, err := native.SubscribeSync("wd.>")
	must(t, err)
	flush(t, native)
	will := func(payload string) *packet.Will {
		w := &packet.Will{Topic: []byte("wd/x"), Payload: []byte(payload)}
		w.Props.WillDelay = 1
		w.Props.Set(packet.PropWillDelay)
		return w
	}
	c := persistentConnect("wd", true, 300)
	c.Will = will("back in time")
	r := e.raw(t, packet.V5)
	r.connect(c)
	r.nc.Close()
	r = e.raw(t, packet.V5)
	c = persistentConnect("wd", false, 1)
	c.Will = will("session ended")
	r.connect(c)
	r.nc.Close() // session expiry 1s, will delay 1s
	if m := next(t, wills); string(m.Data) != "session ended" {
		t.Fatalf("will %q", m.Data)
	}
	// A session that ends with its connection (expiry 0) ends at once, and
	// so does the will delay: the will is not held for its 60 seconds.
	c = &packet.Connect{ClientID: []byte("wd0"), CleanStart: true}
	w := will("no session to wait for")
	w.Props.WillDelay = 60
	c.Will = w
	r = e.raw(t, packet.V5)
	r.connect(c)
	r.nc.Close()
	if m := next(t, wills); string(m.Data) != "no session to wait for" {
		t.Fatalf("will %q", m.Data)
	}
	_ = paho.Connect{}
}
