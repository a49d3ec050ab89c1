package mqtt

import (
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
)

// Native headers that carry what MQTT has and native messages do not. A
// 5.0 user property becomes a header of the same key and value; these
// keys are reserved for the mapping, and a user property using one is
// refused.
const (
	HeaderQoS           = "MQTT-QoS"              // "1" or "2": the publish QoS; absent: 0
	HeaderContentType   = "MQTT-Content-Type"     // 5.0 content type
	HeaderPayloadFormat = "MQTT-Payload-Format"   // "1": the payload is UTF-8
	HeaderCorrelation   = "MQTT-Correlation-Data" // 5.0 correlation data, base64 (standard, padded)
)

var errReservedProperty = errors.New("user property uses a key reserved for the MQTT mapping (MQTT-QoS, MQTT-Content-Type, MQTT-Payload-Format, MQTT-Correlation-Data)")

func reserved(k string) bool {
	switch k {
	case HeaderQoS, HeaderContentType, HeaderPayloadFormat, HeaderCorrelation:
		return true
	}
	return false
}

// msgQoS is the QoS a message was published with: its MQTT-QoS header,
// which MQTT publishers set at QoS 1 and 2 and native publishers may set;
// 0 without it.
func msgQoS(m *sdk.Msg) packet.QoS {
	if m.Header == nil {
		return 0
	}
	switch m.Header.Get(HeaderQoS) {
	case "1":
		return 1
	case "2":
		return 2
	}
	return 0
}

// inHeader builds the native header of an MQTT publish (or will): its QoS
// and its 5.0 properties. nil when there is nothing to carry.
func inHeader(qos packet.QoS, p *packet.Properties) (sdk.Header, error) {
	var h sdk.Header
	set := func(k, v string) {
		if h == nil {
			h = sdk.Header{}
		}
		h.Add(k, v)
	}
	for _, u := range p.User {
		k := string(u.Key)
		if reserved(k) {
			return nil, errReservedProperty
		}
		set(k, string(u.Value))
	}
	if qos > 0 {
		set(HeaderQoS, strconv.Itoa(int(qos)))
	}
	if p.Has(packet.PropContentType) {
		set(HeaderContentType, string(p.ContentType))
	}
	if p.Has(packet.PropPayloadFormat) && p.PayloadFormat == 1 {
		set(HeaderPayloadFormat, "1")
	}
	if p.Has(packet.PropCorrelationData) {
		set(HeaderCorrelation, base64.StdEncoding.EncodeToString(p.CorrelationData))
	}
	return h, nil
}

// outProps builds the 5.0 properties of a message for a client: user
// properties from the headers, the mapped ones, the response topic from
// the reply topic, the remaining expiry, the subscription identifier.
// nil when there are none (a 3.1.1 client never sees them anyway).
func outProps(m *sdk.Msg, subID uint32) *packet.Properties {
	if m.Reply == "" && m.TTL <= 0 && subID == 0 && (len(m.Header) == 0 || len(m.Header) == 1 && m.Header[HeaderQoS] != nil) {
		return nil // nothing but the QoS, which is not a property
	}
	p := &packet.Properties{}
	for _, k := range slices.Sorted(maps.Keys(m.Header)) {
		vs := m.Header[k]
		switch k {
		case HeaderQoS:
		case HeaderContentType:
			p.ContentType = []byte(m.Header.Get(k))
			p.Set(packet.PropContentType)
		case HeaderPayloadFormat:
			if m.Header.Get(k) == "1" {
				p.PayloadFormat = 1
				p.Set(packet.PropPayloadFormat)
			}
		case HeaderCorrelation:
			if b, err := base64.StdEncoding.DecodeString(m.Header.Get(k)); err == nil {
				p.CorrelationData = b
				p.Set(packet.PropCorrelationData)
			}
		default:
			for _, v := range vs {
				p.User = append(p.User, packet.UserProperty{Key: []byte(k), Value: []byte(v)})
			}
		}
	}
	if topic, corr, ok := parseReply(m.Reply); ok {
		if t, err := FromNative(nil, topic); err == nil {
			p.ResponseTopic = t
			p.Set(packet.PropResponseTopic)
			p.CorrelationData = corr
			p.Set(packet.PropCorrelationData)
		}
	} else if m.Reply != "" {
		if t, err := FromNative(nil, m.Reply); err == nil {
			p.ResponseTopic = t
			p.Set(packet.PropResponseTopic)
		}
	}
	if m.TTL > 0 {
		p.MessageExpiry = expirySeconds(m.TTL)
		p.Set(packet.PropMessageExpiry)
	}
	if subID != 0 {
		p.SubscriptionIDs = []uint32{subID}
	}
	return p
}

// expirySeconds rounds a time left up to whole seconds, at least 1.
func expirySeconds(d time.Duration) uint32 {
	s := (d + time.Second - 1) / time.Second
	return uint32(max(1, min(s, 1<<32-1)))
}
