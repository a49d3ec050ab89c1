package packet

import (
	"errors"
	"testing"
)

// connect5 and connect4 build a CONNECT body: protocol name, level, flags,
// keep alive, (properties at 5), then the rest.
func connect4(flags byte, rest ...any) []byte {
	return pkt(0x10, append([]any{str("MQTT"), 4, flags, 0, 60}, rest...)...)
}

func connect5(flags byte, rest ...any) []byte {
	return pkt(0x10, append([]any{str("MQTT"), 5, flags, 0, 60}, rest...)...)
}

type refusal struct {
	name string
	v    Version // the Reader's level; 0 for a CONNECT read by a server
	data []byte
	want error
}

func refusals() []refusal {
	var (
		malformed = ErrMalformed
		protocol  = ErrProtocol
		topic     = ErrTopicName
		filter    = ErrTopicFilter
	)
	pub5 := func(props ...any) []byte { // QoS 0 PUBLISH "t": property length, properties, payload "x"
		return pkt(0x30, str("t"), cat(props...), "x")
	}
	sub4 := func(f string, opts byte) []byte { return pkt(0x82, 0, 1, str(f), opts) }
	sub5 := func(f string, opts byte) []byte { return pkt(0x82, 0, 1, 0, str(f), opts) }
	return []refusal{
		// The fixed header (3.1.1 §2.2, 5.0 §2.1).
		{"type 0", V5, cat(0x00, 0x00), malformed},
		{"AUTH at 3.1.1", V311, cat(0xF0, 0x00), malformed},
		{"PUBREL flags 0000", V5, cat(0x60, 2, 0, 1), malformed},
		{"SUBSCRIBE flags 0000", V311, pkt(0x80, 0, 1, str("a"), 0), malformed},
		{"UNSUBSCRIBE flags 0011", V311, pkt(0xA3, 0, 1, str("a")), malformed},
		{"PINGREQ flags 0001", V311, cat(0xC1, 0), malformed},
		{"CONNECT flags 0001", 0, cat(0x11, 0), malformed},
		{"remaining length of five bytes", V5, cat(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), malformed},
		{"remaining length longer than needed", V5, cat(0xC0, 0x80, 0x00), malformed},
		{"PINGREQ before CONNECT", 0, cat(0xC0, 0), protocol},

		// PUBLISH (3.3).
		{"QoS 3", V311, pkt(0x36, str("a"), 0, 1), malformed},
		{"DUP at QoS 0", V5, pkt(0x38, str("a"), 0), malformed},
		{"'+' in the topic name", V311, pkt(0x30, str("a/+/b")), topic},
		{"'#' in the topic name", V5, pkt(0x30, str("a/#"), 0), topic},
		{"U+0000 in the topic name", V311, pkt(0x30, str("a\x00b")), malformed},
		{"ill-formed UTF-8 in the topic name", V311, pkt(0x30, str("a\xc3\x28")), malformed},
		{"an encoded surrogate in the topic name", V5, pkt(0x30, str("\xed\xa0\x80"), 0), malformed},
		{"an overlong encoding in the topic name", V5, pkt(0x30, str("\xc0\xaf"), 0), malformed},
		{"U+0000 after non-ASCII in the topic name", V311, pkt(0x30, str("é\x00")), malformed},
		{"packet identifier 0", V311, pkt(0x32, str("a"), 0, 0), malformed},
		{"empty topic name at 3.1.1", V311, pkt(0x30, str("")), protocol},
		{"empty topic name without alias", V5, pkt(0x30, str(""), 0), protocol},
		{"topic name longer than the packet", V311, pkt(0x30, 0, 9, "ab"), malformed},
		{"no packet identifier", V311, pkt(0x32, str("a"), 0), malformed},
		{"Topic Alias 0", V5, pub5(3, 0x23, 0, 0), protocol},
		{"Message Expiry Interval twice", V5, pub5(10, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2), protocol},
		{"Session Expiry Interval in PUBLISH", V5, pub5(5, 0x11, 0, 0, 0, 1), malformed},
		{"unknown property 0x05", V5, pub5(2, 0x05, 0), malformed},
		{"two-byte property identifier", V5, pub5(3, 0x81, 0x01, 0), malformed},
		{"Payload Format Indicator 2", V5, pub5(2, 0x01, 2), protocol},
		{"Subscription Identifier 0", V5, pub5(2, 0x0B, 0), protocol},
		{"Subscription Identifier of five bytes", V5, pub5(6, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), malformed},
		{"property length beyond the packet", V5, pkt(0x30, str("t"), 9, 0x01), malformed},
		{"property cut short", V5, pub5(2, 0x02, 0), malformed},
		{"Response Topic with a wildcard", V5, pub5(6, 0x08, str("r/#")), protocol},
		{"ill-formed user property name", V5, pub5(7, 0x26, str("\xff"), str("v")), malformed},
		{"U+0000 in a user property value", V5, pub5(7, 0x26, str("k"), str("\x00")), malformed},

		// CONNECT (3.1).
		{"protocol name MQTX", 0, pkt(0x10, str("MQTX"), 4, 2, 0, 60, str("c")), ErrUnsupportedVersion},
		{"MQTT 3.1", 0, pkt(0x10, str("MQIsdp"), 3, 2, 0, 60, str("c")), ErrUnsupportedVersion},
		{"protocol level 6", 0, pkt(0x10, str("MQTT"), 6, 2, 0, 60, 0, str("c")), ErrUnsupportedVersion},
		{"protocol level 3 named MQTT", 0, pkt(0x10, str("MQTT"), 3, 2, 0, 60, str("c")), ErrUnsupportedVersion},
		{"reserved connect flag", 0, connect4(0x03, str("c")), malformed},
		{"will QoS without will", 0, connect4(0x08, str("c")), malformed},
		{"will retain without will", 0, connect5(0x20, 0, str("c")), malformed},
		{"will QoS 3", 0, connect4(0x1C, str("c"), str("w"), str("m")), malformed},
		{"password without user name at 3.1.1", 0, connect4(0x40, str("c"), str("p")), malformed},
		{"wildcard in the will topic", 0, connect4(0x04, str("c"), str("w/+"), str("m")), topic},
		{"empty will topic", 0, connect4(0x04, str("c"), str(""), str("m")), topic},
		{"ill-formed client identifier", 0, connect4(0x02, str("\xfe")), malformed},
		{"ill-formed user name", 0, connect5(0x80, 0, str("c"), str("\xed\xbf\xbf")), malformed},
		{"Receive Maximum 0", 0, connect5(0x02, 3, 0x21, 0, 0, str("c")), protocol},
		{"Maximum Packet Size 0", 0, connect5(0x02, 5, 0x27, 0, 0, 0, 0, str("c")), protocol},
		{"Authentication Data without Method", 0, connect5(0x02, 4, 0x16, str("d"), str("c")), protocol},
		{"Request Problem Information 2", 0, connect5(0x02, 2, 0x17, 2, str("c")), protocol},
		{"Topic Alias in CONNECT", 0, connect5(0x02, 3, 0x23, 0, 1, str("c")), malformed},
		{"Session Expiry Interval in the will", 0, connect5(0x06, 0, str("c"), 5, 0x11, 0, 0, 0, 1, str("w"), str("m")), malformed},
		{"bytes after the payload", 0, connect4(0x02, str("c"), 0), malformed},
		{"no client identifier", 0, connect4(0x02), malformed},

		// CONNACK (3.2).
		{"reserved acknowledge flags", V311, cat(0x20, 2, 0x02, 0), malformed},
		{"session present with a refusal", V311, cat(0x20, 2, 0x01, 0x05), protocol},
		{"return code 6 at 3.1.1", V311, cat(0x20, 2, 0, 6), malformed},
		{"reason code 0x10 in CONNACK", V5, cat(0x20, 3, 0, 0x10, 0), malformed},
		{"Maximum QoS 2", V5, cat(0x20, 5, 0, 0, 2, 0x24, 2), protocol},
		{"no property length in CONNACK", V5, cat(0x20, 2, 0, 0), malformed},

		// The acknowledgements of QoS 1 and 2 (3.4-3.7).
		{"PUBACK for packet identifier 0", V5, cat(0x40, 2, 0, 0), malformed},
		{"PUBACK of three bytes at 3.1.1", V311, cat(0x40, 3, 0, 1, 0), malformed},
		{"PUBREC cut short", V311, cat(0x50, 1, 0), malformed},
		{"PUBREL with reason code 0x10", V5, cat(0x62, 3, 0, 1, 0x10), malformed},
		{"PUBCOMP with a Topic Alias", V5, cat(0x70, 7, 0, 1, 0, 3, 0x23, 0, 1), malformed},

		// SUBSCRIBE (3.8) and the topic filters (4.7, 4.8).
		{"SUBSCRIBE without filters", V311, pkt(0x82, 0, 1), protocol},
		{"SUBSCRIBE without filters at 5.0", V5, pkt(0x82, 0, 1, 0), protocol},
		{"SUBSCRIBE with packet identifier 0", V311, pkt(0x82, 0, 0, str("a"), 0), malformed},
		{"options missing", V311, pkt(0x82, 0, 1, str("a")), malformed},
		{"'#' not last", V311, sub4("a/#/b", 0), filter},
		{"'#' not alone in its level", V311, sub4("a#", 0), filter},
		{"'+' after a character", V5, sub5("a/b+", 0), filter},
		{"'+' before a character", V5, sub5("+a/b", 0), filter},
		{"empty filter", V311, sub4("", 0), filter},
		{"ill-formed UTF-8 in a filter", V311, sub4("a/\xff", 0), malformed},
		{"shared without filter", V5, sub5("$share/g", 0), filter},
		{"shared with an empty filter", V5, sub5("$share/g/", 0), filter},
		{"shared without name", V5, sub5("$share//a", 0), filter},
		{"'+' in a share name", V5, sub5("$share/g+/a", 0), filter},
		{"'#' in a share name", V5, sub5("$share/#/a", 0), filter},
		{"bad filter in a shared subscription", V5, sub5("$share/g/a#", 0), filter},
		{"3.1.1 options with no local", V311, sub4("a", 0x04), malformed},
		{"reserved option bits at 5.0", V5, sub5("a", 0x40), malformed},
		{"QoS 3 in the options", V5, sub5("a", 0x03), malformed},
		{"retain handling 3", V5, sub5("a", 0x30), protocol},
		{"no local on a shared subscription", V5, sub5("$share/g/a", 0x04), protocol},
		{"two Subscription Identifiers", V5, pkt(0x82, 0, 1, 4, 0x0B, 1, 0x0B, 2, str("a"), 0), protocol},
		{"Subscription Identifier 0 in SUBSCRIBE", V5, pkt(0x82, 0, 1, 2, 0x0B, 0, str("a"), 0), protocol},
		{"Reason String in SUBSCRIBE", V5, pkt(0x82, 0, 1, 4, 0x1F, str("r"), str("a"), 0), malformed},

		// SUBACK, UNSUBSCRIBE, UNSUBACK (3.9-3.11).
		{"SUBACK without codes", V311, cat(0x90, 2, 0, 1), protocol},
		{"SUBACK code 3 at 3.1.1", V311, cat(0x90, 3, 0, 1, 3), malformed},
		{"SUBACK code 0x10 at 5.0", V5, cat(0x90, 4, 0, 1, 0, 0x10), malformed},
		{"UNSUBSCRIBE without filters", V311, pkt(0xA2, 0, 1), protocol},
		{"UNSUBSCRIBE with a bad filter", V5, pkt(0xA2, 0, 1, 0, str("a/#/")), filter},
		{"UNSUBSCRIBE with a Subscription Identifier", V5, pkt(0xA2, 0, 1, 2, 0x0B, 1, str("a")), malformed},
		{"UNSUBACK with codes at 3.1.1", V311, cat(0xB0, 3, 0, 1, 0), malformed},
		{"UNSUBACK without codes at 5.0", V5, cat(0xB0, 3, 0, 1, 0), protocol},
		{"UNSUBACK code 0x01", V5, cat(0xB0, 4, 0, 1, 0, 1), malformed},

		// PINGREQ, PINGRESP, DISCONNECT, AUTH (3.12-3.15).
		{"PINGREQ with a body", V5, cat(0xC0, 1, 0), malformed},
		{"PINGRESP with a body", V311, cat(0xD0, 1, 0), malformed},
		{"DISCONNECT with a body at 3.1.1", V311, cat(0xE0, 1, 0), malformed},
		{"DISCONNECT reason code 0x01", V5, cat(0xE0, 1, 1), malformed},
		{"DISCONNECT with Topic Alias", V5, cat(0xE0, 5, 0, 3, 0x23, 0, 1), malformed},
		{"DISCONNECT bytes after the properties", V5, cat(0xE0, 3, 0, 0, 0), malformed},
		{"AUTH reason code 0x01", V5, cat(0xF0, 1, 1), malformed},
		{"AUTH Authentication Method twice", V5, cat(0xF0, 10, 0x18, 8, 0x15, str("a"), 0x15, str("b")), protocol},
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range refusals() {
		t.Run(tc.name, func(t *testing.T) {
			p, err := readOne(t, tc.data, tc.v)
			if err == nil {
				t.Fatalf("read %s from %x", dump(p), tc.data)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("%x: %v, want %v", tc.data, err, tc.want)
			}
			want := tc.want.(*Error).Code
			if code, ok := CodeOf(err); !ok || code != want {
				t.Fatalf("CodeOf(%v) = %v, %v", err, code, ok)
			}
			var e *Error
			errors.As(err, &e)
			if first := Type(tc.data[0] >> 4); e.Type != first && first != 0 {
				t.Errorf("error of %v for a %v", e.Type, first)
			}
			t.Log(err)
		})
	}
}

// TestAccepted lists edge cases that the specifications allow.
func TestAccepted(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Version
		data []byte
	}{
		{"filters #, +, /, +/+, a//b, /#", V311, pkt(0x82, 0, 1, str("#"), 0, str("+"), 1, str("/"), 2,
			str("+/+"), 0, str("a//b"), 0, str("/#"), 0)},
		{"shared subscription to #", V5, pkt(0x82, 0, 1, 0, str("$share/g/#"), 0x2A)},
		{"shared subscription at 3.1.1", V311, pkt(0x82, 0, 1, str("$share/g/a/+"), 1)},
		{"$ topics and filters", V311, pkt(0x82, 0, 1, str("$SYS/#"), 0, str("$share"), 0, str("$sharex/+"), 0)},
		{"topic name /", V311, pkt(0x30, str("/"))},
		{"topic name with non-ASCII and U+FEFF", V5, pkt(0x30, str("\uFEFFé/日本"), 0)},
		{"empty topic name with alias", V5, pkt(0x30, str(""), 3, 0x23, 0, 1)},
		{"password without user name at 5.0", 0, connect5(0x40, 0, str("c"), str("p"))},
		{"empty client identifier, clean", 0, connect4(0x02, str(""))},
		{"empty client identifier, not clean (the session layer's to refuse)", 0, connect4(0x00, str(""))},
		{"PUBACK with reason and property length 0", V5, cat(0x40, 4, 0, 1, 0x10, 0)},
		{"DISCONNECT with reason and no properties", V5, cat(0xE0, 2, 0x8E, 0)},
		{"AUTH without properties", V5, cat(0xF0, 1, 0x19)},
		{"user properties with repeated names", V5, cat(0xE0, 14, 0, 12, 0x26, str("a"), str(""), 0x26, str("a"), 0, 0)},
	} {
		if _, err := readOne(t, tc.data, tc.v); err != nil {
			t.Errorf("%s: %x: %v", tc.name, tc.data, err)
		}
	}
}

// TestConnectVersionInError checks that a refused CONNECT tells the level
// it declared, which decides the form of the CONNACK refusal.
func TestConnectVersionInError(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		want Version
	}{
		{pkt(0x10, str("MQIsdp"), 3, 2, 0, 60, str("c")), 3},
		{pkt(0x10, str("MQTT"), 6, 2, 0, 60, 0, str("c")), 6},
		{connect5(0x02, 3, 0x21, 0, 0, str("c")), V5},
		{connect4(0x01, str("c")), V311},
	} {
		_, err := readOne(t, tc.data, 0)
		var e *Error
		if !errors.As(err, &e) || e.Version != tc.want || e.Type != TypeConnect {
			t.Errorf("%x: %#v, want level %v", tc.data, err, tc.want)
		}
	}
	if got := UnsupportedProtocolVersion.V311Connack(); got != RefusedProtocolVersion {
		t.Errorf("V311Connack(0x84) = %v", got)
	}
}
