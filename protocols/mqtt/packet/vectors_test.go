package packet

import (
	"bytes"
	"testing"
)

// Byte-exact vectors. Where a specification shows the bytes of an example
// (its "non normative example" figures) the vector contains them and names
// the section; the rest of each packet is built from the tables of the section
// cited. Each vector is read at its level to the packet given, and that
// packet encodes to the same bytes.

// TestVarintTable checks the boundaries of 3.1.1 §2.2.3 Table 2.4 and 5.0
// §1.5.5 Table 1-1.
func TestVarintTable(t *testing.T) {
	for _, tc := range []struct {
		n   uint32
		hex string
	}{
		{0, "00"}, {127, "7F"},
		{128, "80 01"}, {16383, "FF 7F"},
		{16384, "80 80 01"}, {2097151, "FF FF 7F"},
		{2097152, "80 80 80 01"}, {268435455, "FF FF FF 7F"},
	} {
		want := hexBytes(t, tc.hex)
		if got := appendVarint(nil, tc.n); !bytes.Equal(got, want) {
			t.Errorf("appendVarint(%d) = %x, want %x", tc.n, got, want)
		}
		if l := varintLen(tc.n); l != len(want) {
			t.Errorf("varintLen(%d) = %d, want %d", tc.n, l, len(want))
		}
		if n, k := readVarint(want); n != tc.n || k != len(want) {
			t.Errorf("readVarint(%x) = %d, %d", want, n, k)
		}
		if _, k := readVarint(want[:len(want)-1]); k != 0 {
			t.Errorf("readVarint(%x) = %d bytes, want 0 (cut short)", want[:len(want)-1], k)
		}
	}
	for _, bad := range []string{"80 80 80 80 01", "FF FF FF FF 7F", "80 00", "FF 80 00"} {
		if _, k := readVarint(hexBytes(t, bad)); k != -1 {
			t.Errorf("readVarint(%s) = %d bytes, want -1", bad, k)
		}
	}
}

type vectorCase struct {
	name string
	v    Version
	hex  string
	want Packet
}

func specVectors(t *testing.T) []vectorCase {
	b := func(s string) []byte { return []byte(s) }
	return []vectorCase{
		{"3.1.1 §3.1.2.10 example: CONNECT", V311, `
			10 26                    # CONNECT, remaining length 38
			00 04 4D 51 54 54 04 CE 00 0A # the example: "MQTT", level 4, flags 0xCE, keep alive 10
			00 03 63 69 64           # client identifier "cid" (§3.1.3.1)
			00 01 77                 # will topic "w" (§3.1.3.2)
			00 04 62 79 65 21        # will message "bye!" (§3.1.3.3)
			00 04 75 73 65 72        # user name "user" (§3.1.3.4)
			00 06 73 65 63 72 65 74  # password "secret" (§3.1.3.5)`,
			&Connect{CleanStart: true, KeepAlive: 10, ClientID: b("cid"),
				Will:        &Will{QoS: 1, Topic: b("w"), Payload: b("bye!")},
				HasUsername: true, Username: b("user"), HasPassword: true, Password: b("secret")}},
		{"3.1.1 §3.2: CONNACK accepted, session present", V311, "20 02 01 00",
			&Connack{SessionPresent: true}},
		{"3.1.1 §3.2.2.3 Table 3.1: CONNACK refused, unacceptable protocol version", V311, "20 02 00 01",
			&Connack{ReasonCode: RefusedProtocolVersion}},
		{"3.1.1 §3.3.2.3 example: PUBLISH", V311, `
			3B 0A                    # PUBLISH, DUP, QoS 1, RETAIN; remaining length 10
			00 03 61 2F 62 00 0A     # the example: topic "a/b", packet identifier 10
			68 69 21                 # payload "hi!"`,
			&Publish{Dup: true, QoS: 1, Retain: true, Topic: b("a/b"), PacketID: 10, Payload: b("hi!")}},
		{"3.1.1 §1.5.3.1 example: a UTF-8 topic", V311, `
			30 08 00 05 41 F0 AA 9B 94 # the example: "A\U0002A6D4" in a QoS 0 PUBLISH
			2E                         # payload "."`,
			&Publish{Topic: b("A\U0002A6D4"), Payload: b(".")}},
		{"3.1.1 §3.4: PUBACK", V311, "40 02 00 0A", &Puback{PacketID: 10}},
		{"3.1.1 §3.5: PUBREC", V311, "50 02 00 0A", &Pubrec{PacketID: 10}},
		{"3.1.1 §3.6.1: PUBREL, flags 0010", V311, "62 02 00 0A", &Pubrel{PacketID: 10}},
		{"3.1.1 §3.7: PUBCOMP", V311, "70 02 00 0A", &Pubcomp{PacketID: 10}},
		{"3.1.1 §3.8.2 and §3.8.3 examples: SUBSCRIBE", V311, `
			82 0E                    # SUBSCRIBE, flags 0010, remaining length 14
			00 0A                    # the example: packet identifier 10
			00 03 61 2F 62 01        # the example: "a/b", QoS 1
			00 03 63 2F 64 02        #              "c/d", QoS 2`,
			&Subscribe{PacketID: 10, Subscriptions: []Subscription{{Filter: b("a/b"), QoS: 1}, {Filter: b("c/d"), QoS: 2}}}},
		{"3.1.1 §3.9.3 example: SUBACK", V311, `
			90 05 00 0A              # SUBACK, packet identifier 10
			00 02 80                 # the example: QoS 0, QoS 2, failure`,
			&Suback{PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS0, GrantedQoS2, UnspecifiedError}}},
		{"3.1.1 §3.10.3 example: UNSUBSCRIBE", V311, `
			A2 0C 00 0A              # UNSUBSCRIBE, flags 0010, packet identifier 10
			00 03 61 2F 62 00 03 63 2F 64 # the example: "a/b", "c/d"`,
			&Unsubscribe{PacketID: 10, Filters: [][]byte{b("a/b"), b("c/d")}}},
		{"3.1.1 §3.11: UNSUBACK", V311, "B0 02 00 0A", &Unsuback{PacketID: 10}},
		{"3.1.1 §3.12: PINGREQ", V311, "C0 00", &Pingreq{}},
		{"3.1.1 §3.13: PINGRESP", V311, "D0 00", &Pingresp{}},
		{"3.1.1 §3.14: DISCONNECT", V311, "E0 00", &Disconnect{}},

		{"5.0 §3.1.2 example: CONNECT", V5, `
			10 20                    # CONNECT, remaining length 32
			00 04 4D 51 54 54 05 CE 00 0A # the example: "MQTT", level 5, flags 0xCE, keep alive 10
			05 11 00 00 00 0A        # the example: properties, Session Expiry Interval 10
			00 03 63 69 64           # client identifier "cid" (§3.1.3.1)
			00                       # no will properties (§3.1.3.2)
			00 01 77 00 00           # will topic "w", empty will payload (§3.1.3.3-4)
			00 01 75 00 00           # user name "u", empty password (§3.1.3.5-6)`,
			&Connect{CleanStart: true, KeepAlive: 10, ClientID: b("cid"),
				Props:       props(func(p *Properties) { p.SessionExpiry = 10 }, PropSessionExpiry),
				Will:        &Will{QoS: 1, Topic: b("w"), Payload: b("")},
				HasUsername: true, Username: b("u"), HasPassword: true, Password: b("")}},
		{"5.0 §3.2: CONNACK with Maximum QoS 0 and Retain Available 0", V5, `
			20 07 00 00              # CONNACK, no session, success
			04 24 00 25 00           # properties: Maximum QoS 0, Retain Available 0 (§3.2.2.3.4-5)`,
			&Connack{Props: props(func(*Properties) {}, PropMaximumQoS, PropRetainAvailable)}},
		{"5.0 §3.2.2.2: CONNACK refused, unsupported protocol version", V5, "20 03 00 84 00",
			&Connack{ReasonCode: UnsupportedProtocolVersion}},
		{"5.0 §3.3.2 example: PUBLISH", V5, `
			32 0A                    # PUBLISH QoS 1, remaining length 10
			00 03 61 2F 62 00 0A 00  # the example: "a/b", packet identifier 10, no properties
			68 69                    # payload "hi"`,
			&Publish{QoS: 1, Topic: b("a/b"), PacketID: 10, Payload: b("hi")}},
		{"5.0 §3.4.2.1: PUBACK, success left out", V5, "40 02 00 0A", &Puback{PacketID: 10}},
		{"5.0 §3.4.2.1: PUBACK, no matching subscribers", V5, "40 03 00 0A 10",
			&Puback{PacketID: 10, ReasonCode: NoMatchingSubscribers}},
		{"5.0 §3.6.2.1: PUBREL, packet identifier not found, reason string", V5, `
			62 09 00 0A 92           # PUBREL, packet identifier 10, 0x92
			05 1F 00 02 6E 6F        # Reason String "no"`,
			&Pubrel{PacketID: 10, ReasonCode: PacketIDNotFound, Props: props(func(p *Properties) { p.ReasonString = b("no") }, PropReasonString)}},
		{"5.0 §3.8.3 example: SUBSCRIBE", V5, `
			82 11 00 0A              # SUBSCRIBE, packet identifier 10
			02 0B 05                 # Subscription Identifier 5 (§3.8.2.1.2)
			00 03 61 2F 62 01        # the example: "a/b", QoS 1
			00 03 63 2F 64 2E        # "c/d" (the example has options 2): QoS 2, no local, retain as published, retain handling 2 (§3.8.3.1)`,
			&Subscribe{PacketID: 10, Props: Properties{SubscriptionIDs: []uint32{5}}, Subscriptions: []Subscription{
				{Filter: b("a/b"), QoS: 1},
				{Filter: b("c/d"), QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: DoNotSendRetained}}}},
		{"5.0 §3.9.3: SUBACK", V5, "90 06 00 0A 00 01 02 A2",
			&Suback{PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS1, GrantedQoS2, WildcardSubscriptionsNotSupported}}},
		{"5.0 §3.10.3 example: UNSUBSCRIBE", V5, `
			A2 0D 00 0A 00           # UNSUBSCRIBE, packet identifier 10, no properties
			00 03 61 2F 62 00 03 63 2F 64 # the example: "a/b", "c/d"`,
			&Unsubscribe{PacketID: 10, Filters: [][]byte{b("a/b"), b("c/d")}}},
		{"5.0 §3.11.3: UNSUBACK", V5, "B0 05 00 0A 00 00 11",
			&Unsuback{PacketID: 10, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}}},
		{"5.0 §3.14.2.1: DISCONNECT, normal, left out", V5, "E0 00", &Disconnect{}},
		{"5.0 §3.14.2.1: DISCONNECT with will message", V5, "E0 01 04", &Disconnect{ReasonCode: DisconnectWithWill}},
		{"5.0 §3.15.2.1: AUTH, continue", V5, "F0 0A 18 08 15 00 05 53 43 52 41 4D",
			&Auth{ReasonCode: ContinueAuthentication, Props: props(func(p *Properties) { p.AuthMethod = b("SCRAM") }, PropAuthMethod)}},
	}
}

func TestSpecVectors(t *testing.T) {
	for _, tc := range specVectors(t) {
		t.Run(tc.name, func(t *testing.T) {
			wire := hexBytes(t, tc.hex)
			rv := tc.v
			if tc.want.Type() == TypeConnect {
				rv = 0
			}
			got, err := readOne(t, wire, rv)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if dump(got) != dump(tc.want) {
				t.Errorf("read\n%s\nwant\n%s", dump(got), dump(tc.want))
			}
			if enc := mustAppend(t, tc.want, tc.v); !bytes.Equal(enc, wire) {
				t.Errorf("encoded\n%x\nwant\n%x", enc, wire)
			}
		})
	}
}

// TestVectorsOrder reads properties in an order other than the canonical
// one: the packet is the same, and it re-encodes in the canonical order.
func TestVectorsOrder(t *testing.T) {
	wire := hexBytes(t, `30 0C 00 00 08 0B 01 0B 80 01 23 00 07 21`)
	got, err := readOne(t, wire, V5)
	if err != nil {
		t.Fatal(err)
	}
	p := got.(*Publish)
	if !p.Props.Has(PropTopicAlias) || p.Props.TopicAlias != 7 || len(p.Props.SubscriptionIDs) != 2 ||
		p.Props.SubscriptionIDs[0] != 1 || p.Props.SubscriptionIDs[1] != 128 || string(p.Payload) != "!" {
		t.Fatalf("read %s", dump(p))
	}
	want := hexBytes(t, `30 0C 00 00 08 23 00 07 0B 01 0B 80 01 21`)
	if enc := mustAppend(t, p, V5); !bytes.Equal(enc, want) {
		t.Errorf("encoded %x, want %x", enc, want)
	}
}
