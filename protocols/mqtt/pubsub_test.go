package mqtt_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/protocols/mqtt"
	"github.com/msgtrans/msgtrans/sdk"
)

// MQTT 5.0 and native clients meet on mapped topics, both ways, at every
// QoS; a message is delivered at the lower of its QoS and the
// subscription's; "a/#" also matches "a".
func TestV5AndNativeMeet(t *testing.T) {
	e := start(t, nil, broker.Options{})
	sub := e.v5(t, &paho.Connect{ClientID: "sub", CleanStart: true})
	sub.sub(t, "a/#", 1)
	native := e.nativeConn(t)
	ns, err := native.SubscribeSync("a.>")
	must(t, err)
	flush(t, native)

	pub := e.v5(t, &paho.Connect{ClientID: "pub", CleanStart: true})
	for qos := byte(0); qos <= 2; qos++ {
		pub.pub(t, &paho.Publish{Topic: "a/b", QoS: qos, Payload: []byte{'m', '0' + qos}})
		m := sub.next(t)
		if m.Topic != "a/b" || string(m.Payload) != string([]byte{'m', '0' + qos}) || m.QoS != min(qos, 1) {
			t.Fatalf("QoS %d: MQTT subscriber got %s %q QoS %d", qos, m.Topic, m.Payload, m.QoS)
		}
		nm := next(t, ns)
		if nm.Topic != "a.b" || string(nm.Data) != string([]byte{'m', '0' + qos}) {
			t.Fatalf("native subscriber got %s %q", nm.Topic, nm.Data)
		}
		if want := map[byte]string{0: "", 1: "1", 2: "2"}[qos]; nm.Header.Get(mqtt.HeaderQoS) != want {
			t.Fatalf("native header %v, want QoS %q", nm.Header, want)
		}
	}
	pub.pub(t, &paho.Publish{Topic: "a", QoS: 1, Payload: []byte("parent")})
	if m := sub.next(t); m.Topic != "a" || string(m.Payload) != "parent" {
		t.Fatalf("a/# did not match a: %s %q", m.Topic, m.Payload)
	}

	// native -> MQTT: QoS 0 unless the native publisher asks for more.
	must(t, native.Publish("a.x.y", []byte("from native")))
	if m := sub.next(t); m.Topic != "a/x/y" || string(m.Payload) != "from native" || m.QoS != 0 {
		t.Fatalf("got %s %q QoS %d", m.Topic, m.Payload, m.QoS)
	}
	must(t, native.PublishMsg(&sdk.Msg{Topic: "a.q", Data: []byte("q1"), Header: sdk.Header{mqtt.HeaderQoS: {"1"}}}))
	if m := sub.next(t); m.Topic != "a/q" || m.QoS != 1 {
		t.Fatalf("got %s QoS %d", m.Topic, m.QoS)
	}
}

// 5.0 properties cross to native messages and back: user properties as
// headers, content type, payload format, message expiry as a time to
// live, response topic and correlation data.
func TestV5PropertiesCrossToNative(t *testing.T) {
	e := start(t, nil, broker.Options{})
	native := e.nativeConn(t)
	ns, err := native.SubscribeSync("req.>")
	must(t, err)
	flush(t, native)
	sub := e.v5(t, &paho.Connect{ClientID: "sub", CleanStart: true})
	sub.sub(t, "req/#", 1)
	pub := e.v5(t, &paho.Connect{ClientID: "pub", CleanStart: true})
	exp := uint32(60)
	format := byte(1)
	pub.pub(t, &paho.Publish{Topic: "req/x", QoS: 1, Payload: []byte("body"), Properties: &paho.PublishProperties{
		User:          paho.UserProperties{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}, {Key: "other", Value: "o"}},
		ContentType:   "text/plain",
		PayloadFormat: &format, MessageExpiry: &exp,
		ResponseTopic: "resp/me", CorrelationData: []byte{0, 1, 2, 0xff},
	}})
	nm := next(t, ns)
	if !strings.HasPrefix(nm.Reply, "_MQTT.reply.") || !strings.HasSuffix(nm.Reply, ".resp.me") || nm.Header.Get("other") != "o" || len(nm.Header["k"]) != 2 || nm.Header["k"][1] != "v2" ||
		nm.Header.Get(mqtt.HeaderContentType) != "text/plain" || nm.Header.Get(mqtt.HeaderPayloadFormat) != "1" ||
		nm.TTL <= 0 || nm.TTL > 60*time.Second {
		t.Fatalf("native message: reply %q header %v ttl %v", nm.Reply, nm.Header, nm.TTL)
	}
	m := sub.next(t)
	p := m.Properties
	if p == nil || p.ResponseTopic != "resp/me" || !bytes.Equal(p.CorrelationData, []byte{0, 1, 2, 0xff}) ||
		p.ContentType != "text/plain" || p.PayloadFormat == nil || *p.PayloadFormat != 1 ||
		p.MessageExpiry == nil || *p.MessageExpiry == 0 || *p.MessageExpiry > 60 ||
		p.User.Get("other") != "o" || len(p.User.GetAll("k")) != 2 {
		t.Fatalf("MQTT message properties: %+v", p)
	}

	// A user property with a key the mapping reserves is refused.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := pub.Publish(ctx, &paho.Publish{Topic: "req/y", QoS: 1, Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: mqtt.HeaderQoS, Value: "2"}}}})
	if r == nil || r.ReasonCode != 0x83 {
		t.Fatalf("reserved user property: %+v %v", r, err)
	}
}

// A 3.1.1 client (paho.mqtt.golang) and native clients share retained
// messages through the broker's store; an empty retained payload deletes.
func TestV311RetainedAndNative(t *testing.T) {
	e := start(t, nil, broker.Options{})
	c := e.v3(t, "c311", true, nil)
	done(t, c.Publish("cfg/eu", 1, true, "on"))
	native := e.nativeConn(t)
	ns, err := native.SubscribeSync("cfg.eu")
	must(t, err)
	if m := next(t, ns); m.Topic != "cfg.eu" || string(m.Data) != "on" || !m.Retain {
		t.Fatalf("native got %s %q retain %v", m.Topic, m.Data, m.Retain)
	}
	_, err = native.Subscribe("x", func(*sdk.Msg) {})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	must(t, native.PublishAck(ctx, &sdk.Msg{Topic: "cfg.us", Data: []byte("off"), Retain: true}))

	d := e.v3(t, "d311", true, nil)
	done(t, d.Subscribe("cfg/+", 1, nil))
	got := map[string]string{}
	for range 2 {
		m := d.next(t)
		if !m.Retained() {
			t.Fatalf("%s not flagged retained", m.Topic())
		}
		got[m.Topic()] = string(m.Payload())
	}
	if got["cfg/eu"] != "on" || got["cfg/us"] != "off" {
		t.Fatalf("retained: %v", got)
	}
	// live: QoS 1 both ways
	done(t, c.Publish("cfg/eu", 1, false, "live"))
	if m := d.next(t); m.Topic() != "cfg/eu" || string(m.Payload()) != "live" || m.Qos() != 1 || m.Retained() {
		t.Fatalf("live: %s %q qos %d retained %v", m.Topic(), m.Payload(), m.Qos(), m.Retained())
	}
	if m := next(t, ns); string(m.Data) != "live" {
		t.Fatalf("native live: %q", m.Data)
	}
	// delete
	done(t, c.Publish("cfg/eu", 1, true, ""))
	f := e.v3(t, "f311", true, nil)
	done(t, f.Subscribe("cfg/#", 0, nil))
	if m := f.next(t); m.Topic() != "cfg/us" {
		t.Fatalf("deleted retained message still delivered: %s", m.Topic())
	}
	_ = paho3.ErrNotConnected
}
