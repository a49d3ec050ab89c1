package packet

// Cross-checks with the MQTT clients that issue 12 names for its tests:
// github.com/eclipse/paho.golang (5.0) and github.com/eclipse/paho.mqtt.golang
// (3.1.1). Their packet encoders write packets that the Reader must read
// to the same fields, and their packet readers must read what Append
// writes. Only their packet packages are used, in tests.

import (
	"bytes"
	"io"
	"testing"

	paho5 "github.com/eclipse/paho.golang/packets"
	paho3 "github.com/eclipse/paho.mqtt.golang/packets"
)

func ptr[T any](v T) *T { return &v }

// fromPaho reads what a paho encoder wrote, at level v (0 for a CONNECT),
// checks it re-encodes to the same bytes or their canonical form, and
// returns the packet's dump.
func fromPaho(t *testing.T, write func(*bytes.Buffer) error, v Version) Packet {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	r := NewReader(bytes.NewReader(raw), 0)
	r.SetVersion(v)
	p, err := r.ReadPacket()
	if err != nil {
		t.Fatalf("reading %x: %v", raw, err)
	}
	checkReencode(t, p, raw, r.Version())
	return p
}

func TestPaho5WritesWeRead(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	connect := &paho5.Connect{
		ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: "paho-5", KeepAlive: 30, CleanStart: true,
		UsernameFlag: true, Username: "user", PasswordFlag: true, Password: b("pass"),
		WillFlag: true, WillQOS: 1, WillRetain: true, WillTopic: "clients/paho-5", WillMessage: b("gone"),
		Properties: &paho5.Properties{SessionExpiryInterval: ptr(uint32(120)), ReceiveMaximum: ptr(uint16(10)),
			MaximumPacketSize: ptr(uint32(1 << 20)), TopicAliasMaximum: ptr(uint16(5)),
			User: []paho5.User{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}}},
		// paho.golang v0.23.0 writes a will's properties through its
		// CONNECT filter: of these only the Will Delay Interval and user
		// properties reach the wire, the others are dropped.
		WillProperties: &paho5.Properties{WillDelayInterval: ptr(uint32(3)), ContentType: "text/plain",
			User: []paho5.User{{Key: "w", Value: "1"}}},
	}
	p := fromPaho(t, func(w *bytes.Buffer) error { _, err := connect.WriteTo(w); return err }, 0).(*Connect)
	if string(p.ClientID) != "paho-5" || p.KeepAlive != 30 || !p.CleanStart || string(p.Username) != "user" ||
		string(p.Password) != "pass" || p.Will == nil || p.Will.QoS != 1 || !p.Will.Retain ||
		string(p.Will.Topic) != "clients/paho-5" || string(p.Will.Payload) != "gone" ||
		p.Props.SessionExpiry != 120 || p.Props.ReceiveMaximum != 10 || p.Props.MaximumPacketSize != 1<<20 ||
		p.Props.TopicAliasMaximum != 5 || len(p.Props.User) != 2 || string(p.Props.User[1].Value) != "v2" ||
		p.Will.Props.WillDelay != 3 || len(p.Will.Props.User) != 1 || string(p.Will.Props.User[0].Key) != "w" {
		t.Errorf("CONNECT read as %s", dump(p))
	}

	publish := &paho5.Publish{Topic: "a/b", QoS: 1, PacketID: 7, Retain: true, Payload: b("hello"),
		Properties: &paho5.Properties{ContentType: "application/json", ResponseTopic: "re/a",
			CorrelationData: b("c1"), MessageExpiry: ptr(uint32(9)), TopicAlias: ptr(uint16(2)),
			User: []paho5.User{{Key: "trace", Value: "x"}}}}
	pub := fromPaho(t, func(w *bytes.Buffer) error { _, err := publish.WriteTo(w); return err }, V5).(*Publish)
	if string(pub.Topic) != "a/b" || pub.QoS != 1 || pub.PacketID != 7 || !pub.Retain || string(pub.Payload) != "hello" ||
		string(pub.Props.ContentType) != "application/json" || string(pub.Props.ResponseTopic) != "re/a" ||
		string(pub.Props.CorrelationData) != "c1" || pub.Props.MessageExpiry != 9 || pub.Props.TopicAlias != 2 ||
		len(pub.Props.User) != 1 {
		t.Errorf("PUBLISH read as %s", dump(pub))
	}

	subscribe := &paho5.Subscribe{PacketID: 8,
		Properties: &paho5.Properties{SubscriptionIdentifier: ptr(300)},
		Subscriptions: []paho5.SubOptions{
			{Topic: "a/+/c", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: paho5.RetainDoNotSend},
			{Topic: "$share/g/d/#", QoS: 1, RetainHandling: paho5.RetainSendOnSubscribeIfNew},
		}}
	sub := fromPaho(t, func(w *bytes.Buffer) error { _, err := subscribe.WriteTo(w); return err }, V5).(*Subscribe)
	want := []Subscription{
		{Filter: b("a/+/c"), QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: DoNotSendRetained},
		{Filter: b("$share/g/d/#"), QoS: 1, RetainHandling: SendRetainedIfNew},
	}
	if sub.PacketID != 8 || len(sub.Props.SubscriptionIDs) != 1 || sub.Props.SubscriptionIDs[0] != 300 ||
		dump(&Subscribe{PacketID: 8, Subscriptions: sub.Subscriptions}) != dump(&Subscribe{PacketID: 8, Subscriptions: want}) {
		t.Errorf("SUBSCRIBE read as %s", dump(sub))
	}

	unsub := &paho5.Unsubscribe{PacketID: 9, Topics: []string{"a/+/c", "x"}, Properties: &paho5.Properties{}}
	u := fromPaho(t, func(w *bytes.Buffer) error { _, err := unsub.WriteTo(w); return err }, V5).(*Unsubscribe)
	if u.PacketID != 9 || len(u.Filters) != 2 || string(u.Filters[1]) != "x" {
		t.Errorf("UNSUBSCRIBE read as %s", dump(u))
	}

	puback := &paho5.Puback{PacketID: 7, ReasonCode: paho5.PubackNoMatchingSubscribers,
		Properties: &paho5.Properties{ReasonString: "nobody"}}
	pa := fromPaho(t, func(w *bytes.Buffer) error { _, err := puback.WriteTo(w); return err }, V5).(*Puback)
	if pa.PacketID != 7 || pa.ReasonCode != NoMatchingSubscribers || string(pa.Props.ReasonString) != "nobody" {
		t.Errorf("PUBACK read as %s", dump(pa))
	}

	disconnect := &paho5.Disconnect{ReasonCode: paho5.DisconnectDisconnectWithWillMessage,
		Properties: &paho5.Properties{SessionExpiryInterval: ptr(uint32(0))}}
	d := fromPaho(t, func(w *bytes.Buffer) error { _, err := disconnect.WriteTo(w); return err }, V5).(*Disconnect)
	if d.ReasonCode != DisconnectWithWill || !d.Props.Has(PropSessionExpiry) {
		t.Errorf("DISCONNECT read as %s", dump(d))
	}

	auth := &paho5.Auth{ReasonCode: paho5.AuthContinueAuthentication,
		Properties: &paho5.Properties{AuthMethod: "SCRAM-SHA-256", AuthData: b("nonce")}}
	a := fromPaho(t, func(w *bytes.Buffer) error { _, err := auth.WriteTo(w); return err }, V5).(*Auth)
	if a.ReasonCode != ContinueAuthentication || string(a.Props.AuthMethod) != "SCRAM-SHA-256" || string(a.Props.AuthData) != "nonce" {
		t.Errorf("AUTH read as %s", dump(a))
	}
}

// toPaho encodes p at level v and reads it back with a paho packet reader.
func toPaho[T any](t *testing.T, p Packet, v Version, read func(io.Reader) (T, error)) T {
	t.Helper()
	data := mustAppend(t, p, v)
	got, err := read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("paho reads %x (%v at %v): %v", data, p.Type(), v, err)
	}
	return got
}

// toPaho5 encodes p at 5.0 and reads it with paho.golang's packet reader.
func toPaho5(t *testing.T, p Packet) paho5.Packet {
	t.Helper()
	return toPaho(t, p, V5, func(r io.Reader) (paho5.Packet, error) {
		cp, err := paho5.ReadPacket(r)
		if err != nil {
			return nil, err
		}
		return cp.Content, nil
	})
}

func TestPaho5ReadsWhatWeWrite(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	ack := &Connack{SessionPresent: true}
	ack.Props.AssignedClientID, ack.Props.MaximumQoS, ack.Props.TopicAliasMaximum = b("auto-7"), 1, 8
	ack.Props.ReceiveMaximum, ack.Props.RetainAvailable, ack.Props.ServerKeepAlive = 50, 0, 20
	ack.Props.ReasonString, ack.Props.User = b("hi"), users("node", "a")
	ack.Props.Set(PropAssignedClientID, PropMaximumQoS, PropTopicAliasMaximum, PropReceiveMaximum,
		PropRetainAvailable, PropServerKeepAlive, PropReasonString)
	c := toPaho5(t, ack).(*paho5.Connack)
	if !c.SessionPresent || c.ReasonCode != 0 || c.Properties.AssignedClientID != "auto-7" ||
		c.Properties.MaximumQOS == nil || *c.Properties.MaximumQOS != 1 || *c.Properties.TopicAliasMaximum != 8 ||
		*c.Properties.ReceiveMaximum != 50 || *c.Properties.RetainAvailable != 0 || *c.Properties.ServerKeepAlive != 20 ||
		c.Properties.ReasonString != "hi" || len(c.Properties.User) != 1 || c.Properties.User[0].Value != "a" {
		t.Errorf("paho reads CONNACK as %v", c)
	}

	sa := toPaho5(t, &Suback{PacketID: 4, ReasonCodes: []ReasonCode{GrantedQoS1, NotAuthorized, GrantedQoS0}}).(*paho5.Suback)
	if sa.PacketID != 4 || !bytes.Equal(sa.Reasons, []byte{1, 0x87, 0}) {
		t.Errorf("paho reads SUBACK as %v", sa)
	}

	pub := &Publish{Topic: b("x/y"), QoS: 2, PacketID: 99, Dup: true, Payload: b("data")}
	pub.Props.SubscriptionIDs = []uint32{77}
	pub.Props.PayloadFormat, pub.Props.ContentType = 1, b("text/plain")
	pub.Props.Set(PropPayloadFormat, PropContentType)
	pp := toPaho5(t, pub).(*paho5.Publish)
	if pp.Topic != "x/y" || pp.QoS != 2 || pp.PacketID != 99 || !pp.Duplicate || string(pp.Payload) != "data" ||
		pp.Properties.SubscriptionIdentifier == nil || *pp.Properties.SubscriptionIdentifier != 77 ||
		*pp.Properties.PayloadFormat != 1 || pp.Properties.ContentType != "text/plain" {
		t.Errorf("paho reads PUBLISH as %v", pp)
	}

	rel := toPaho5(t, &Pubrel{PacketID: 99, ReasonCode: PacketIDNotFound}).(*paho5.Pubrel)
	if rel.PacketID != 99 || rel.ReasonCode != byte(PacketIDNotFound) {
		t.Errorf("paho reads PUBREL as %v", rel)
	}
	ua := toPaho5(t, &Unsuback{PacketID: 5, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}}).(*paho5.Unsuback)
	if ua.PacketID != 5 || !bytes.Equal(ua.Reasons, []byte{0, 0x11}) {
		t.Errorf("paho reads UNSUBACK as %v", ua)
	}
	dis := &Disconnect{ReasonCode: ServerShuttingDown}
	dis.Props.ServerReference = b("other:1883")
	dis.Props.Set(PropServerReference)
	d := toPaho5(t, dis).(*paho5.Disconnect)
	if d.ReasonCode != byte(ServerShuttingDown) || d.Properties.ServerReference != "other:1883" {
		t.Errorf("paho reads DISCONNECT as %v", d)
	}
	if _, ok := toPaho5(t, &Pingresp{}).(*paho5.Pingresp); !ok {
		t.Error("paho does not read PINGRESP")
	}
}

func TestPaho3WritesWeRead(t *testing.T) {
	connect := paho3.NewControlPacket(paho3.Connect).(*paho3.ConnectPacket)
	connect.ProtocolName, connect.ProtocolVersion = "MQTT", 4
	connect.CleanSession, connect.Keepalive, connect.ClientIdentifier = true, 45, "paho-3"
	connect.WillFlag, connect.WillQos, connect.WillRetain = true, 2, true
	connect.WillTopic, connect.WillMessage = "status/paho-3", []byte("offline")
	connect.UsernameFlag, connect.Username, connect.PasswordFlag, connect.Password = true, "u", true, []byte("p")
	c := fromPaho(t, func(w *bytes.Buffer) error { return connect.Write(w) }, 0).(*Connect)
	if string(c.ClientID) != "paho-3" || c.KeepAlive != 45 || !c.CleanStart || c.Will == nil || c.Will.QoS != 2 ||
		!c.Will.Retain || string(c.Will.Topic) != "status/paho-3" || string(c.Will.Payload) != "offline" ||
		string(c.Username) != "u" || string(c.Password) != "p" {
		t.Errorf("CONNECT read as %s", dump(c))
	}

	publish := paho3.NewControlPacket(paho3.Publish).(*paho3.PublishPacket)
	publish.Qos, publish.Retain, publish.Dup = 1, true, true
	publish.TopicName, publish.MessageID, publish.Payload = "a/b", 12, []byte("hello")
	p := fromPaho(t, func(w *bytes.Buffer) error { return publish.Write(w) }, V311).(*Publish)
	if string(p.Topic) != "a/b" || p.QoS != 1 || !p.Retain || !p.Dup || p.PacketID != 12 || string(p.Payload) != "hello" {
		t.Errorf("PUBLISH read as %s", dump(p))
	}

	subscribe := paho3.NewControlPacket(paho3.Subscribe).(*paho3.SubscribePacket)
	subscribe.MessageID, subscribe.Topics, subscribe.Qoss = 13, []string{"a/#", "+/b"}, []byte{2, 0}
	s := fromPaho(t, func(w *bytes.Buffer) error { return subscribe.Write(w) }, V311).(*Subscribe)
	if s.PacketID != 13 || len(s.Subscriptions) != 2 || string(s.Subscriptions[0].Filter) != "a/#" ||
		s.Subscriptions[0].QoS != 2 || string(s.Subscriptions[1].Filter) != "+/b" {
		t.Errorf("SUBSCRIBE read as %s", dump(s))
	}

	unsub := paho3.NewControlPacket(paho3.Unsubscribe).(*paho3.UnsubscribePacket)
	unsub.MessageID, unsub.Topics = 14, []string{"a/#"}
	u := fromPaho(t, func(w *bytes.Buffer) error { return unsub.Write(w) }, V311).(*Unsubscribe)
	if u.PacketID != 14 || len(u.Filters) != 1 {
		t.Errorf("UNSUBSCRIBE read as %s", dump(u))
	}

	for _, typ := range []byte{paho3.Pingreq, paho3.Disconnect, paho3.Puback, paho3.Pubrel} {
		cp := paho3.NewControlPacket(typ)
		switch cp := cp.(type) {
		case *paho3.PubackPacket:
			cp.MessageID = 12
		case *paho3.PubrelPacket:
			cp.MessageID = 13
		}
		got := fromPaho(t, func(w *bytes.Buffer) error { return cp.Write(w) }, V311)
		if byte(got.Type()) != typ {
			t.Errorf("paho wrote type %d, read %v", typ, got.Type())
		}
	}
}

// toPaho3 encodes p at 3.1.1 and reads it with paho.mqtt.golang's packet
// reader.
func toPaho3(t *testing.T, p Packet) paho3.ControlPacket {
	t.Helper()
	return toPaho(t, p, V311, paho3.ReadPacket)
}

func TestPaho3ReadsWhatWeWrite(t *testing.T) {
	c := toPaho3(t, &Connack{SessionPresent: true}).(*paho3.ConnackPacket)
	if !c.SessionPresent || c.ReturnCode != 0 {
		t.Errorf("paho reads CONNACK as %v", c)
	}
	if c := toPaho3(t, &Connack{ReasonCode: BadUserNameOrPassword.V311Connack()}).(*paho3.ConnackPacket); c.ReturnCode != 4 {
		t.Errorf("paho reads CONNACK as %v", c)
	}
	sa := toPaho3(t, &Suback{PacketID: 13, ReasonCodes: []ReasonCode{GrantedQoS2, GrantedQoS0, UnspecifiedError}}).(*paho3.SubackPacket)
	if sa.MessageID != 13 || !bytes.Equal(sa.ReturnCodes, []byte{2, 0, 0x80}) {
		t.Errorf("paho reads SUBACK as %v", sa)
	}
	p := toPaho3(t, &Publish{Topic: []byte("a/b"), QoS: 1, PacketID: 3, Retain: true, Payload: []byte("pl")}).(*paho3.PublishPacket)
	if p.TopicName != "a/b" || p.Qos != 1 || p.MessageID != 3 || !p.Retain || string(p.Payload) != "pl" {
		t.Errorf("paho reads PUBLISH as %v", p)
	}
	if ua := toPaho3(t, &Unsuback{PacketID: 14}).(*paho3.UnsubackPacket); ua.MessageID != 14 {
		t.Errorf("paho reads UNSUBACK as %v", ua)
	}
	if pr := toPaho3(t, &Pubrec{PacketID: 15}).(*paho3.PubrecPacket); pr.MessageID != 15 {
		t.Errorf("paho reads PUBREC as %v", pr)
	}
	if pc := toPaho3(t, &Pubcomp{PacketID: 16}).(*paho3.PubcompPacket); pc.MessageID != 16 {
		t.Errorf("paho reads PUBCOMP as %v", pc)
	}
	if _, ok := toPaho3(t, &Pingresp{}).(*paho3.PingrespPacket); !ok {
		t.Error("paho does not read PINGRESP")
	}
}
