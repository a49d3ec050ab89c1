package packet

import (
	"bytes"
	"errors"
	"testing"
)

// TestAppendRefuses lists what Append cannot write: it returns ErrEncode
// and dst as it was.
func TestAppendRefuses(t *testing.T) {
	long := make([]byte, MaxString+1)
	sessionExpiry := props(func(p *Properties) { p.SessionExpiry = 1 }, PropSessionExpiry)
	for _, tc := range []struct {
		name string
		p    Packet
		v    Version
	}{
		{"level 3", &Pingreq{}, 3},
		{"level 6", &Publish{Topic: []byte("a")}, 6},
		{"AUTH at 3.1.1", &Auth{}, V311},
		{"topic of 65536 bytes", &Publish{Topic: long}, V311},
		{"client identifier of 65536 bytes", &Connect{ClientID: long}, V5},
		{"will payload of 65536 bytes", &Connect{Will: &Will{Topic: []byte("w"), Payload: long}}, V311},
		{"password of 65536 bytes", &Connect{HasPassword: true, Password: long}, V311},
		{"filter of 65536 bytes", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: long}}}, V5},
		{"unsubscribe filter of 65536 bytes", &Unsubscribe{PacketID: 1, Filters: [][]byte{long}}, V311},
		{"reason string of 65536 bytes", &Puback{PacketID: 1, Props: props(func(p *Properties) { p.ReasonString = long }, PropReasonString)}, V5},
		{"user property of 65536 bytes", &Disconnect{Props: Properties{User: []UserProperty{{Key: []byte("k"), Value: long}}}}, V5},
		{"Session Expiry Interval in PUBLISH", &Publish{Topic: []byte("a"), Props: sessionExpiry}, V5},
		{"Session Expiry Interval in a will", &Connect{Will: &Will{Topic: []byte("w"), Props: sessionExpiry}}, V5},
		{"Subscription Identifier in CONNACK", &Connack{Props: Properties{SubscriptionIDs: []uint32{1}}}, V5},
		{"Subscription Identifier of 2^28", &Publish{Topic: []byte("a"), Props: Properties{SubscriptionIDs: []uint32{1 << 28}}}, V5},
	} {
		dst := []byte("kept")
		got, err := tc.p.Append(dst, tc.v)
		if !errors.Is(err, ErrEncode) || !bytes.Equal(got, []byte("kept")) {
			t.Errorf("%s: %q, %v", tc.name, got, err)
		}
		if _, err := Size(tc.p, tc.v); !errors.Is(err, ErrEncode) {
			t.Errorf("%s: Size: %v", tc.name, err)
		}
	}
	// A remaining length past the largest variable byte integer, without
	// allocating 256 MiB to show it.
	s := sizer{n: MaxRemainingLength + 1}
	if _, err := s.done(TypePublish, V5); !errors.Is(err, ErrEncode) {
		t.Errorf("remaining length 2^28: %v", err)
	}
	// Properties are left out below 5.0, whatever they hold.
	if _, err := (&Publish{Topic: []byte("a"), Props: sessionExpiry}).Append(nil, V311); err != nil {
		t.Errorf("properties at 3.1.1: %v", err)
	}
}

// TestSplitShared takes shared subscriptions apart (5.0 §4.8.2).
func TestSplitShared(t *testing.T) {
	for _, tc := range []struct{ in, name, filter string }{
		{"$share/group/a/b/#", "group", "a/b/#"},
		{"$share/g/+", "g", "+"},
		{"a/b", "", "a/b"},
		{"$shared/a", "", "$shared/a"},
	} {
		name, filter, ok := SplitShared([]byte(tc.in))
		if string(name) != tc.name || string(filter) != tc.filter || ok != (tc.name != "") {
			t.Errorf("SplitShared(%q) = %q, %q, %v", tc.in, name, filter, ok)
		}
	}
}
