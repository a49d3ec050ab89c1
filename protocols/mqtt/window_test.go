package mqtt_test

import (
	"context"
	"testing"
	"time"

	paho "github.com/eclipse/paho.golang/paho"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
)

// A publish the broker refuses is not acknowledged as received: at 5.0 the
// PUBACK or PUBREC carries the refusal (0x87 for permissions), at 3.1.1,
// which has no way to say it, the connection is closed.
func TestPublishRefusedByTheBroker(t *testing.T) {
	e := start(t, nil, broker.Options{Authenticator: denyAuth{}})
	c := e.v5(t, &paho.Connect{ClientID: "p5", CleanStart: true})
	for _, qos := range []byte{1, 2} {
		r, err := c.Publish(ctxT(t), &paho.Publish{Topic: "secret/x", QoS: qos, Payload: []byte("no")})
		if r == nil || r.ReasonCode != 0x87 {
			t.Fatalf("QoS %d: %+v %v", qos, r, err)
		}
	}
	c.pub(t, &paho.Publish{Topic: "open/x", QoS: 1, Payload: []byte("yes")})

	r := e.raw(t, packet.V311)
	r.connect(&packet.Connect{ClientID: []byte("p3"), CleanStart: true})
	r.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: []byte("secret/x"), Payload: []byte("no")})
	for {
		p, err := r.read(wait)
		if err != nil {
			break // closed, and no PUBACK came first
		}
		t.Fatalf("3.1.1 got %v for a refused publish", p.Type())
	}
}

// QoS 1 messages to a client never exceed its Receive Maximum in flight:
// the next goes out when a PUBACK makes room. Packet identifiers are
// distinct while in flight.
func TestInFlightWindow(t *testing.T) {
	e := start(t, nil, broker.Options{})
	r := e.raw(t, packet.V5)
	cp := &packet.Connect{ClientID: []byte("win"), CleanStart: true}
	cp.Props.ReceiveMaximum = 2
	cp.Props.Set(packet.PropReceiveMaximum)
	r.connect(cp)
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("w/#"), QoS: 1}}})
	r.expect(packet.TypeSuback)
	native := e.nativeConn(t)
	for i := range 5 {
		must(t, native.PublishMsg(&sdk.Msg{Topic: "w.x", Data: []byte{'0' + byte(i)}, Header: sdk.Header{"MQTT-QoS": {"1"}}}))
	}
	flush(t, native)
	var ids []uint16
	for i := range 2 {
		p := r.expect(packet.TypePublish).(*packet.Publish)
		if p.QoS != 1 || p.Payload[0] != '0'+byte(i) {
			t.Fatalf("message %d: QoS %d %q", i, p.QoS, p.Payload)
		}
		ids = append(ids, p.PacketID)
	}
	if ids[0] == ids[1] {
		t.Fatalf("packet identifiers %v", ids)
	}
	if p, err := r.read(300 * time.Millisecond); err == nil {
		t.Fatalf("a third message in flight beyond Receive Maximum 2: %v", p.Type())
	}
	for i := 2; i < 5; i++ {
		r.send(&packet.Puback{PacketID: ids[0]})
		ids = ids[1:]
		p := r.expect(packet.TypePublish).(*packet.Publish)
		if p.Payload[0] != '0'+byte(i) {
			t.Fatalf("message %d: %q", i, p.Payload)
		}
		ids = append(ids, p.PacketID)
	}
	_ = context.Background
}
