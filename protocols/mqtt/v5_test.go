package mqtt_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.golang/paho"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
)

// An MQTT 5 request with correlation data is answered by a native
// responder (sdk Respond), and the response reaches the requester on its
// response topic with the correlation data; a native request is answered
// by an MQTT responder.
func TestRequestResponseAcrossProtocols(t *testing.T) {
	e := start(t, nil, broker.Options{})
	native := e.nativeConn(t)
	_, err := native.Subscribe("svc.echo", func(m *sdk.Msg) { m.Respond(append([]byte("echo "), m.Data...)) })
	must(t, err)
	flush(t, native)
	req := e.v5(t, &paho.Connect{ClientID: "req", CleanStart: true})
	req.sub(t, "replies/req", 1)
	for i, corr := range [][]byte{[]byte("id-1"), {0, 0xff, '.', '/'}, nil} {
		pr := &paho.PublishProperties{ResponseTopic: "replies/req", CorrelationData: corr}
		req.pub(t, &paho.Publish{Topic: "svc/echo", QoS: 1, Payload: []byte{'a' + byte(i)}, Properties: pr})
		m := req.next(t)
		if m.Topic != "replies/req" || string(m.Payload) != "echo "+string([]byte{'a' + byte(i)}) ||
			m.Properties == nil || !bytes.Equal(m.Properties.CorrelationData, corr) {
			t.Fatalf("response %s %q %+v", m.Topic, m.Payload, m.Properties)
		}
	}

	// No responder: the broker's "no responders" status has no MQTT form
	// and is not relayed (sdk.Msg.NoResponders); the requester hears nothing.
	req.pub(t, &paho.Publish{Topic: "svc/nobody", QoS: 1, Payload: []byte("anyone?"),
		Properties: &paho.PublishProperties{ResponseTopic: "replies/req", CorrelationData: []byte("x")}})
	must(t, native.Publish("replies.req", []byte("marker")))
	if m := req.next(t); string(m.Payload) != "marker" {
		t.Fatalf("got %q (%+v) before the marker", m.Payload, m.Properties)
	}
	select {
	case m := <-req.msgs:
		t.Fatalf("a response to a request nobody heard: %q %+v", m.Payload, m.Properties)
	case <-time.After(200 * time.Millisecond):
	}

	// native request -> MQTT responder
	resp := e.v5(t, &paho.Connect{ClientID: "resp", CleanStart: true})
	resp.sub(t, "svc/mqtt", 0)
	go func() {
		m := <-resp.msgs
		resp.Publish(ctxT(t), &paho.Publish{Topic: m.Properties.ResponseTopic, Payload: []byte("from mqtt"),
			Properties: &paho.PublishProperties{CorrelationData: m.Properties.CorrelationData}})
	}()
	ctx := ctxT(t)
	r, err := native.Request(ctx, "svc.mqtt", []byte("q"))
	if err != nil || string(r.Data) != "from mqtt" {
		t.Fatalf("native request: %v %v", r, err)
	}
}

// Shared subscriptions split messages among the group; no-local keeps a
// client's own messages away; retain handling and retain-as-published
// decide the retained flag; subscription identifiers come back.
func TestV5SubscriptionOptions(t *testing.T) {
	e := start(t, nil, broker.Options{})
	native := e.nativeConn(t)
	ctx := ctxT(t)

	a := e.v5(t, &paho.Connect{ClientID: "a", CleanStart: true})
	b := e.v5(t, &paho.Connect{ClientID: "b", CleanStart: true})
	a.sub(t, "$share/g/jobs/+", 1)
	b.sub(t, "$share/g/jobs/+", 1)
	for i := range 20 {
		must(t, native.Publish("jobs.x", []byte{byte(i)}))
	}
	flush(t, native)
	got := 0
	for got < 20 {
		select {
		case <-a.msgs:
		case <-b.msgs:
		case <-time.After(wait):
			t.Fatalf("%d of 20 shared messages", got)
		}
		got++
	}
	select {
	case m := <-a.msgs:
		t.Fatalf("a shared message delivered twice: %v", m)
	case m := <-b.msgs:
		t.Fatalf("a shared message delivered twice: %v", m)
	case <-time.After(100 * time.Millisecond):
	}

	// no-local
	c := e.v5(t, &paho.Connect{ClientID: "c", CleanStart: true})
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "nl", QoS: 0, NoLocal: true}}})
	must(t, err)
	c.pub(t, &paho.Publish{Topic: "nl", Payload: []byte("mine")})
	must(t, native.Publish("nl", []byte("theirs")))
	if m := c.next(t); string(m.Payload) != "theirs" {
		t.Fatalf("no-local delivered %q", m.Payload)
	}

	// retained: handling 2 sends none; retain-as-published keeps the flag
	// on live messages; subscription identifier.
	must(t, native.PublishAck(ctx, &sdk.Msg{Topic: "rt", Data: []byte("kept"), Retain: true}))
	d := e.v5(t, &paho.Connect{ClientID: "d", CleanStart: true})
	id := 42
	_, err = d.Subscribe(ctx, &paho.Subscribe{Properties: &paho.SubscribeProperties{SubscriptionIdentifier: &id},
		Subscriptions: []paho.SubscribeOptions{{Topic: "rt", QoS: 1, RetainHandling: 2, RetainAsPublished: true}}})
	must(t, err)
	must(t, native.PublishAck(ctx, &sdk.Msg{Topic: "rt", Data: []byte("live retained"), Retain: true}))
	m := d.next(t)
	if string(m.Payload) != "live retained" || !m.Retain || m.Properties == nil || m.Properties.SubscriptionIdentifier == nil || *m.Properties.SubscriptionIdentifier != 42 {
		t.Fatalf("got %q retain %v props %+v", m.Payload, m.Retain, m.Properties)
	}
	f := e.v5(t, &paho.Connect{ClientID: "f", CleanStart: true})
	f.sub(t, "rt", 0)
	if m := f.next(t); string(m.Payload) != "live retained" || !m.Retain {
		t.Fatalf("retained on subscribe: %q %v", m.Payload, m.Retain)
	}
	must(t, native.PublishAck(ctx, &sdk.Msg{Topic: "rt", Data: []byte("live again"), Retain: true}))
	if m := f.next(t); m.Retain {
		t.Fatal("live message flagged retained without retain-as-published")
	}
}

// Topic aliases from the client; the client's Maximum Packet Size (a
// message over it is not sent); Server Keep Alive; reason strings.
func TestV5ConnectionProperties(t *testing.T) {
	e := start(t, map[string]string{"max_keep_alive": "20", "topic_alias_maximum": "2"}, broker.Options{})
	native := e.nativeConn(t)
	ns, err := native.SubscribeSync("al.>")
	must(t, err)
	flush(t, native)
	r := e.raw(t, packet.V5)
	cp := &packet.Connect{ClientID: []byte("props"), CleanStart: true, KeepAlive: 0}
	cp.Props.MaximumPacketSize = 100
	cp.Props.Set(packet.PropMaximumPacketSize)
	ack := r.connect(cp)
	if ack.Props.ServerKeepAlive != 20 || ack.Props.TopicAliasMaximum != 2 || ack.Props.ReceiveMaximum == 0 {
		t.Fatalf("CONNACK properties %+v", ack.Props)
	}
	alias := func(topic string, a uint16, payload string) *packet.Publish {
		p := &packet.Publish{Topic: []byte(topic), Payload: []byte(payload)}
		p.Props.TopicAlias = a
		p.Props.Set(packet.PropTopicAlias)
		return p
	}
	r.send(alias("al/one", 1, "set"))
	r.send(alias("", 1, "used"))
	for _, want := range []string{"set", "used"} {
		if m := next(t, ns); m.Topic != "al.one" || string(m.Data) != want {
			t.Fatalf("%s %q", m.Topic, m.Data)
		}
	}
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("big"), QoS: 0}}})
	r.expect(packet.TypeSuback)
	must(t, native.Publish("big", bytes.Repeat([]byte("x"), 200)))
	must(t, native.Publish("big", []byte("small")))
	if p := r.expect(packet.TypePublish).(*packet.Publish); string(p.Payload) != "small" {
		t.Fatalf("over the client's maximum packet size: %d bytes", len(p.Payload))
	}
	r.send(alias("", 3, "over the maximum"))
	if d := r.closed(); d == nil || d.ReasonCode != packet.TopicAliasInvalid || !strings.Contains(string(d.Props.ReasonString), "alias") {
		t.Fatalf("DISCONNECT %+v", d)
	}
}

// Stopping the protocol tells 5.0 clients: DISCONNECT 0x8B.
func TestShutdownDisconnects(t *testing.T) {
	e := start(t, nil, broker.Options{})
	c := e.v5(t, &paho.Connect{ClientID: "s", CleanStart: true})
	go e.b.Shutdown(ctxT(t))
	select {
	case d := <-c.disco:
		if d.ReasonCode != 0x8B {
			t.Fatalf("DISCONNECT %#x", d.ReasonCode)
		}
	case <-time.After(wait):
		t.Fatal("no DISCONNECT on shutdown")
	}
}
