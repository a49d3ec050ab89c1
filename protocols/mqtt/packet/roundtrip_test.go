package packet

import (
	"bytes"
	"testing"
)

// props returns properties with the given single-valued ones set.
func props(set func(p *Properties), ids ...PropID) Properties {
	var p Properties
	set(&p)
	p.Set(ids...)
	return p
}

func users(kv ...string) []UserProperty {
	var u []UserProperty
	for i := 0; i+1 < len(kv); i += 2 {
		u = append(u, UserProperty{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return u
}

// samples returns packets of every type with their fields set, for level v.
func samples(v Version) []Packet {
	b := func(s string) []byte { return []byte(s) }
	ps := []Packet{
		&Connect{ClientID: b("client-1"), KeepAlive: 30, CleanStart: true},
		&Connect{ClientID: b(""), HasUsername: true, Username: b("user"), HasPassword: true, Password: []byte{0, 1, 2},
			Will: &Will{QoS: 1, Retain: true, Topic: b("last/will"), Payload: b("gone")}},
		&Connack{SessionPresent: true},
		&Publish{Topic: b("a/b"), Payload: b("hello")},
		&Publish{Topic: b("sensors/κ/temp"), QoS: 1, PacketID: 10, Dup: true, Retain: true, Payload: []byte{}},
		&Publish{Topic: b("x"), QoS: 2, PacketID: 65535, Payload: bytes.Repeat(b("z"), 300)},
		&Puback{PacketID: 1},
		&Pubrec{PacketID: 2},
		&Pubrel{PacketID: 3},
		&Pubcomp{PacketID: 4},
		&Subscribe{PacketID: 5, Subscriptions: []Subscription{{Filter: b("a/+/c"), QoS: 1}, {Filter: b("#"), QoS: 2}, {Filter: b("$share/g/d/#")}}},
		&Suback{PacketID: 5, ReasonCodes: []ReasonCode{GrantedQoS1, GrantedQoS2, UnspecifiedError}},
		&Unsubscribe{PacketID: 6, Filters: [][]byte{b("a/+/c"), b("+")}},
		&Pingreq{},
		&Pingresp{},
		&Disconnect{},
	}
	if v == V311 {
		return append(ps, &Connack{ReasonCode: RefusedNotAuthorized}, &Unsuback{PacketID: 6})
	}
	all := func(p *Properties) {
		p.SessionExpiry, p.ReceiveMaximum, p.MaximumPacketSize, p.TopicAliasMaximum = 3600, 20, 1<<20, 10
		p.RequestResponseInfo, p.RequestProblemInfo = 1, 0
		p.AuthMethod, p.AuthData = b("SCRAM-SHA-1"), []byte{1, 2, 3}
		p.User = users("a", "1", "a", "2", "", "")
	}
	return append(ps,
		&Connect{ClientID: b("c5"), KeepAlive: 60, Props: props(all,
			PropSessionExpiry, PropReceiveMaximum, PropMaximumPacketSize, PropTopicAliasMaximum,
			PropRequestResponseInfo, PropRequestProblemInfo, PropAuthMethod, PropAuthData),
			Will: &Will{QoS: 2, Topic: b("w"), Payload: b("p"), Props: props(func(p *Properties) {
				p.WillDelay, p.PayloadFormat, p.MessageExpiry = 5, 1, 60
				p.ContentType, p.ResponseTopic, p.CorrelationData = b("text/plain"), b("re/ply"), []byte{9}
				p.User = users("k", "v")
			}, PropWillDelay, PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic, PropCorrelationData)}},
		&Connack{Props: props(func(p *Properties) {
			p.SessionExpiry, p.ReceiveMaximum, p.MaximumQoS, p.RetainAvailable = 10, 100, 1, 0
			p.MaximumPacketSize, p.AssignedClientID, p.TopicAliasMaximum = 4096, b("auto-1"), 5
			p.ReasonString, p.WildcardSubAvailable, p.SubIDAvailable, p.SharedSubAvailable = b("welcome"), 1, 0, 1
			p.ServerKeepAlive, p.ResponseInfo, p.ServerReference = 0, b("resp/"), b("other:1883")
			p.AuthMethod, p.AuthData = b("m"), []byte{}
			p.User = users("x", "y")
		}, PropSessionExpiry, PropReceiveMaximum, PropMaximumQoS, PropRetainAvailable, PropMaximumPacketSize,
			PropAssignedClientID, PropTopicAliasMaximum, PropReasonString, PropWildcardSubAvailable,
			PropSubIDAvailable, PropSharedSubAvailable, PropServerKeepAlive, PropResponseInfo,
			PropServerReference, PropAuthMethod, PropAuthData)},
		&Connack{ReasonCode: BadAuthenticationMethod},
		&Publish{QoS: 1, PacketID: 7, Topic: b(""), Payload: b("via alias"), Props: props(func(p *Properties) {
			p.TopicAlias, p.PayloadFormat, p.MessageExpiry = 3, 1, 0
			p.ContentType, p.ResponseTopic, p.CorrelationData = b("application/json"), b("r"), b("id-1")
			p.SubscriptionIDs = []uint32{1, 268435455}
			p.User = users("trace", "abc")
		}, PropTopicAlias, PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic, PropCorrelationData)},
		&Puback{PacketID: 8, ReasonCode: NoMatchingSubscribers},
		&Pubrec{PacketID: 9, ReasonCode: QuotaExceeded, Props: props(func(p *Properties) { p.ReasonString = b("full") }, PropReasonString)},
		&Pubrel{PacketID: 10, ReasonCode: PacketIDNotFound},
		&Pubcomp{PacketID: 11, Props: props(func(p *Properties) { p.User = users("u", "v") })},
		&Subscribe{PacketID: 12, Props: props(func(p *Properties) { p.SubscriptionIDs = []uint32{42}; p.User = users("s", "t") }),
			Subscriptions: []Subscription{
				{Filter: b("a/#"), QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: DoNotSendRetained},
				{Filter: b("$share/group/b/+"), QoS: 1, RetainHandling: SendRetainedIfNew},
			}},
		&Suback{PacketID: 12, ReasonCodes: []ReasonCode{GrantedQoS2, SharedSubscriptionsNotSupported},
			Props: props(func(p *Properties) { p.ReasonString = b("no shares") }, PropReasonString)},
		&Unsubscribe{PacketID: 13, Filters: [][]byte{b("a/#")}, Props: props(func(p *Properties) { p.User = users("q", "r") })},
		&Unsuback{PacketID: 13, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}},
		&Disconnect{ReasonCode: DisconnectWithWill},
		&Disconnect{ReasonCode: ServerMoved, Props: props(func(p *Properties) {
			p.SessionExpiry, p.ServerReference, p.ReasonString = 0, b("elsewhere"), b("moving")
		}, PropSessionExpiry, PropServerReference, PropReasonString)},
		&Auth{},
		&Auth{ReasonCode: ContinueAuthentication, Props: props(func(p *Properties) {
			p.AuthMethod, p.AuthData = b("SCRAM-SHA-1"), b("challenge")
		}, PropAuthMethod, PropAuthData)},
	)
}

func TestRoundTrip(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		for _, p := range samples(v) {
			t.Run(v.String()+"/"+p.Type().String(), func(t *testing.T) {
				enc := mustAppend(t, p, v)
				rv := v
				if p.Type() == TypeConnect {
					rv = 0 // a server learns the level from the CONNECT
				}
				got, err := readOne(t, enc, rv)
				if err != nil {
					t.Fatalf("read %x: %v", enc, err)
				}
				if got.Type() != p.Type() {
					t.Fatalf("read %v, wrote %v", got.Type(), p.Type())
				}
				if dump(got) != dump(p) {
					t.Errorf("read\n%s\nwrote\n%s", dump(got), dump(p))
				}
				if again := mustAppend(t, got, v); !bytes.Equal(again, enc) {
					t.Errorf("re-encoded\n%x\nfrom\n%x", again, enc)
				}
			})
		}
	}
}

// TestAppendGrowsOnce checks that Append appends to what dst holds, and
// allocates nothing when dst has room.
func TestAppendGrowsOnce(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		for _, p := range samples(v) {
			want := mustAppend(t, p, v)
			buf := make([]byte, 3, 3+len(want))
			allocs := testing.AllocsPerRun(10, func() {
				var err error
				if buf, err = p.Append(buf[:3], v); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v at %v: %v allocations with room in dst", p.Type(), v, allocs)
			}
			if !bytes.Equal(buf[3:], want) {
				t.Errorf("%v at %v: appended %x, want %x", p.Type(), v, buf[3:], want)
			}
		}
	}
}
