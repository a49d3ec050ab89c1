package mqtt_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
)

// Every way a CONNECT is refused gets its own code, in the client's
// version's form, and the connection is closed.
func TestConnectRefusals(t *testing.T) {
	e := start(t, nil, broker.Options{Authenticator: &broker.StaticAuth{Users: map[string]string{"alice": "secret"}}})
	for _, c := range []struct {
		name string
		v    packet.Version
		p    packet.Connect
		want packet.ReasonCode
	}{
		{"5.0 bad password", packet.V5, packet.Connect{ClientID: []byte("x"), HasUsername: true, Username: []byte("alice"), HasPassword: true, Password: []byte("nope")}, packet.BadUserNameOrPassword},
		{"3.1.1 bad password", packet.V311, packet.Connect{ClientID: []byte("x"), HasUsername: true, Username: []byte("alice"), HasPassword: true, Password: []byte("nope")}, packet.RefusedBadUserNameOrPassword},
		{"3.1.1 no credentials", packet.V311, packet.Connect{ClientID: []byte("x"), CleanStart: true}, packet.RefusedBadUserNameOrPassword},
		{"3.1.1 empty id without clean session", packet.V311, packet.Connect{HasUsername: true, Username: []byte("alice"), HasPassword: true, Password: []byte("secret")}, packet.RefusedIdentifierRejected},
		{"5.0 authentication method", packet.V5, func() packet.Connect {
			p := packet.Connect{ClientID: []byte("x")}
			p.Props.AuthMethod = []byte("SCRAM-SHA-1")
			p.Props.Set(packet.PropAuthMethod)
			return p
		}(), packet.BadAuthenticationMethod},
		{"5.0 will topic with a wildcard", packet.V5, packet.Connect{ClientID: []byte("x"), HasUsername: true, Username: []byte("alice"), HasPassword: true, Password: []byte("secret"),
			Will: &packet.Will{Topic: []byte("a/+"), Payload: []byte("x")}}, packet.TopicNameInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.raw(t, c.v)
			ack := r.connect(&c.p)
			if ack.ReasonCode != c.want {
				t.Fatalf("CONNACK %#x (%v), want %#x", byte(ack.ReasonCode), ack.ReasonCode, byte(c.want))
			}
			r.closed()
		})
	}
	// An unsupported protocol level (MQTT 3.1, level 3) is answered in the
	// 3.1.1 form with return code 1.
	r := e.raw(t, packet.V311)
	r.write([]byte{0x10, 14, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 30, 0, 0})
	if ack := r.expect(packet.TypeConnack).(*packet.Connack); ack.ReasonCode != packet.RefusedProtocolVersion {
		t.Fatalf("level 3: CONNACK %v", ack.ReasonCode)
	}
	// The right password works in both versions; a 5.0 empty client
	// identifier is assigned one.
	c5 := e.v5(t, &paho.Connect{UsernameFlag: true, Username: "alice", PasswordFlag: true, Password: []byte("secret")})
	if c5.ack.ReasonCode != 0 || c5.ack.Properties == nil || !strings.HasPrefix(c5.ack.Properties.AssignedClientID, "auto-") {
		t.Fatalf("CONNACK %+v", c5.ack)
	}
	e.v3(t, "", true, func(o *paho3.ClientOptions) { o.SetUsername("alice").SetPassword("secret") })
}

// A client silent for one and a half times its keep alive is dropped (a
// 5.0 client with DISCONNECT 0x8D); one that pings is not.
func TestKeepAlive(t *testing.T) {
	e := start(t, nil, broker.Options{})
	r := e.raw(t, packet.V5)
	if ack := r.connect(&packet.Connect{ClientID: []byte("ka"), KeepAlive: 1, CleanStart: true}); ack.ReasonCode != 0 {
		t.Fatal(ack.ReasonCode)
	}
	for range 4 { // 2 seconds, past 1.5s, kept alive by pings
		time.Sleep(500 * time.Millisecond)
		r.send(&packet.Pingreq{})
		r.expect(packet.TypePingresp)
	}
	start := time.Now()
	d := r.closed()
	if d == nil || d.ReasonCode != packet.KeepAliveTimeout {
		t.Fatalf("DISCONNECT %+v", d)
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("dropped after %v of silence, before 1.5 x 1s", el)
	}
}

// A bad packet closes only its own connection, with the reason the
// specification gives.
func TestMalformedClosesOnlyThatClient(t *testing.T) {
	e := start(t, nil, broker.Options{})
	good := e.v5(t, &paho.Connect{ClientID: "good", CleanStart: true})
	good.sub(t, "ok", 0)
	for _, c := range []struct {
		name  string
		bytes []byte
		want  packet.ReasonCode
	}{
		{"bad remaining length", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, packet.MalformedPacket},
		{"reserved flags", []byte{0xc1, 0x00}, packet.MalformedPacket},
		{"second CONNECT", []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 30, 0, 0, 0}, packet.ProtocolError},
		{"too large", append([]byte{0x30, 0xff, 0xff, 0x7f}, make([]byte, 10)...), packet.PacketTooLarge},
		{"bad UTF-8 topic", []byte{0x30, 6, 0, 2, 0xc3, 0x28, 0, 'x'}, packet.MalformedPacket},
		{"subscription identifier in a PUBLISH", []byte{0x30, 6, 0, 1, 'x', 2, 0x0b, 1}, packet.ProtocolError},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.raw(t, packet.V5)
			r.connect(&packet.Connect{ClientID: []byte("bad"), CleanStart: true})
			r.write(c.bytes)
			if d := r.closed(); d == nil || d.ReasonCode != c.want {
				t.Fatalf("DISCONNECT %+v, want %v", d, c.want)
			}
		})
	}
	bad := e.raw(t, packet.V311)
	bad.write([]byte{0x82, 0x00}) // SUBSCRIBE before CONNECT
	bad.closed()
	other := e.v5(t, &paho.Connect{ClientID: "other", CleanStart: true})
	other.pub(t, &paho.Publish{Topic: "ok", Payload: []byte("still here")})
	if m := good.next(t); string(m.Payload) != "still here" {
		t.Fatalf("%q", m.Payload)
	}
}

// A second connection with the same client identifier takes the session
// over: the first is closed (5.0: DISCONNECT 0x8E) and its will published.
func TestSessionTakeover(t *testing.T) {
	e := start(t, nil, broker.Options{})
	native := e.nativeConn(t)
	wills, err := native.SubscribeSync("wills.>")
	must(t, err)
	flush(t, native)
	first := e.v5(t, &paho.Connect{ClientID: "dev1", CleanStart: true, WillMessage: &paho.WillMessage{Topic: "wills/dev1", Payload: []byte("first gone")}})
	second := e.v5(t, &paho.Connect{ClientID: "dev1", CleanStart: true})
	select {
	case d := <-first.disco:
		if d.ReasonCode != 0x8E {
			t.Fatalf("first got DISCONNECT %#x", d.ReasonCode)
		}
	case <-time.After(wait):
		t.Fatal("first connection not told of the takeover")
	}
	if m := next(t, wills); string(m.Data) != "first gone" {
		t.Fatalf("will %q", m.Data)
	}
	second.sub(t, "t", 0)
	second.pub(t, &paho.Publish{Topic: "t", Payload: []byte("second works")})
	if m := second.next(t); string(m.Payload) != "second works" {
		t.Fatal(string(m.Payload))
	}
	// 3.1.1 too: the first connection is closed.
	lost := make(chan error, 1)
	e.v3(t, "dev2", true, func(o *paho3.ClientOptions) {
		o.SetConnectionLostHandler(func(_ paho3.Client, err error) { lost <- err })
	})
	e.v3(t, "dev2", true, nil)
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("3.1.1 first connection not closed")
	}
}

// Wills: published when the connection is lost, and for a 5.0 DISCONNECT
// with reason 0x04; not for a clean DISCONNECT.
func TestWills(t *testing.T) {
	e := start(t, nil, broker.Options{})
	native := e.nativeConn(t)
	wills, err := native.SubscribeSync("wills.>")
	must(t, err)
	flush(t, native)

	// lost: the raw connection is cut.
	r := e.raw(t, packet.V311)
	r.connect(&packet.Connect{ClientID: []byte("w1"), CleanStart: true, Will: &packet.Will{QoS: 1, Topic: []byte("wills/w1"), Payload: []byte("w1 lost")}})
	r.nc.Close()
	if m := next(t, wills); m.Topic != "wills.w1" || string(m.Data) != "w1 lost" || m.Header.Get("MQTT-QoS") != "1" {
		t.Fatalf("will %s %q %v", m.Topic, m.Data, m.Header)
	}
	// clean DISCONNECT: no will; 0x04: the will.
	for _, code := range []packet.ReasonCode{packet.NormalDisconnection, packet.DisconnectWithWill} {
		r := e.raw(t, packet.V5)
		r.connect(&packet.Connect{ClientID: []byte("w2"), CleanStart: true, Will: &packet.Will{Topic: []byte("wills/w2"), Payload: []byte{byte(code)}}})
		r.send(&packet.Disconnect{ReasonCode: code})
		r.closed()
	}
	if m := next(t, wills); m.Topic != "wills.w2" || !errors.Is(nil, nil) || m.Data[0] != byte(packet.DisconnectWithWill) {
		t.Fatalf("will %s %v", m.Topic, m.Data)
	}
}

// The broker refuses a subscription (here by permissions): the SUBACK
// says so per filter, 0x87 at 5.0 and 0x80 at 3.1.1, and the other
// filters of the packet are granted.
func TestSubackRefusal(t *testing.T) {
	e := start(t, nil, broker.Options{Authenticator: denyAuth{}})
	c := e.v5(t, &paho.Connect{ClientID: "s5", CleanStart: true})
	ctx := ctxT(t)
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "secret/#", QoS: 1}, {Topic: "open/+", QoS: 2}, {Topic: strings.Repeat("a/", 40) + "a", QoS: 0}}})
	if err != nil && sa == nil {
		t.Fatal(err)
	}
	if len(sa.Reasons) != 3 || sa.Reasons[0] != 0x87 || sa.Reasons[1] != 2 || sa.Reasons[2] != 0x8F {
		t.Fatalf("SUBACK %x", sa.Reasons)
	}
	r := e.raw(t, packet.V311)
	r.connect(&packet.Connect{ClientID: []byte("s3"), CleanStart: true})
	r.send(&packet.Subscribe{PacketID: 7, Subscriptions: []packet.Subscription{{Filter: []byte("secret/x"), QoS: 1}, {Filter: []byte("open/x"), QoS: 1}}})
	if sa := r.expect(packet.TypeSuback).(*packet.Suback); sa.PacketID != 7 || len(sa.ReasonCodes) != 2 || sa.ReasonCodes[0] != 0x80 || sa.ReasonCodes[1] != 1 {
		t.Fatalf("3.1.1 SUBACK %+v", sa)
	}
	// UNSUBSCRIBE of one that exists and one that does not.
	r.send(&packet.Unsubscribe{PacketID: 8, Filters: [][]byte{[]byte("open/x")}})
	if ua := r.expect(packet.TypeUnsuback).(*packet.Unsuback); ua.PacketID != 8 {
		t.Fatalf("UNSUBACK %+v", ua)
	}
	ua, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"open/+", "never"}})
	if err != nil || len(ua.Reasons) != 2 || ua.Reasons[0] != 0 || ua.Reasons[1] != 0x11 {
		t.Fatalf("UNSUBACK %+v %v", ua, err)
	}
}

// denyAuth gives every session permissions that refuse "secret".
type denyAuth struct{}

func (denyAuth) Authenticate(broker.SessionInfo, broker.Credentials) (broker.Principal, error) {
	return broker.Principal{Permissions: denySecret{}}, nil
}

type denySecret struct{}

func (denySecret) MayPublish(topic []byte) bool { return !strings.HasPrefix(string(topic), "secret") }
func (denySecret) MaySubscribe(filter, _ string) (bool, bool) {
	return !strings.HasPrefix(filter, "secret"), false
}
func (denySecret) MayReceive([]byte) bool { return true }
