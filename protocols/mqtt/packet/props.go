package packet

import (
	"math/bits"
	"strconv"
)

// PropID is a 5.0 property identifier (5.0 §2.2.2.2, Table 2-4).
type PropID byte

// The property identifiers of 5.0 and the packets they may appear in.
const (
	PropPayloadFormat        PropID = 0x01 // byte: PUBLISH, will
	PropMessageExpiry        PropID = 0x02 // four-byte integer: PUBLISH, will
	PropContentType          PropID = 0x03 // UTF-8 string: PUBLISH, will
	PropResponseTopic        PropID = 0x08 // UTF-8 string: PUBLISH, will
	PropCorrelationData      PropID = 0x09 // binary data: PUBLISH, will
	PropSubscriptionID       PropID = 0x0B // variable byte integer: PUBLISH (repeatable), SUBSCRIBE
	PropSessionExpiry        PropID = 0x11 // four-byte integer: CONNECT, CONNACK, DISCONNECT
	PropAssignedClientID     PropID = 0x12 // UTF-8 string: CONNACK
	PropServerKeepAlive      PropID = 0x13 // two-byte integer: CONNACK
	PropAuthMethod           PropID = 0x15 // UTF-8 string: CONNECT, CONNACK, AUTH
	PropAuthData             PropID = 0x16 // binary data: CONNECT, CONNACK, AUTH
	PropRequestProblemInfo   PropID = 0x17 // byte: CONNECT
	PropWillDelay            PropID = 0x18 // four-byte integer: will
	PropRequestResponseInfo  PropID = 0x19 // byte: CONNECT
	PropResponseInfo         PropID = 0x1A // UTF-8 string: CONNACK
	PropServerReference      PropID = 0x1C // UTF-8 string: CONNACK, DISCONNECT
	PropReasonString         PropID = 0x1F // UTF-8 string: all acknowledgements, DISCONNECT, AUTH
	PropReceiveMaximum       PropID = 0x21 // two-byte integer: CONNECT, CONNACK
	PropTopicAliasMaximum    PropID = 0x22 // two-byte integer: CONNECT, CONNACK
	PropTopicAlias           PropID = 0x23 // two-byte integer: PUBLISH
	PropMaximumQoS           PropID = 0x24 // byte: CONNACK
	PropRetainAvailable      PropID = 0x25 // byte: CONNACK
	PropUserProperty         PropID = 0x26 // UTF-8 string pair: every packet with properties (repeatable)
	PropMaximumPacketSize    PropID = 0x27 // four-byte integer: CONNECT, CONNACK
	PropWildcardSubAvailable PropID = 0x28 // byte: CONNACK
	PropSubIDAvailable       PropID = 0x29 // byte: CONNACK
	PropSharedSubAvailable   PropID = 0x2A // byte: CONNACK
)

// propSet is a set of property identifiers, bit i for identifier i.
type propSet uint64

// The properties each packet may carry (5.0 §3.x.2.2 of each packet, and
// §3.1.3.2 for a will). A property outside its packet's set is a malformed
// packet (5.0 §2.2.2.2).
const (
	userProps    propSet = 1 << PropUserProperty
	reasonProps          = userProps | 1<<PropReasonString
	connectProps         = userProps | 1<<PropSessionExpiry | 1<<PropAuthMethod | 1<<PropAuthData |
		1<<PropRequestProblemInfo | 1<<PropRequestResponseInfo | 1<<PropReceiveMaximum |
		1<<PropTopicAliasMaximum | 1<<PropMaximumPacketSize
	connackProps = reasonProps | 1<<PropSessionExpiry | 1<<PropAssignedClientID | 1<<PropServerKeepAlive |
		1<<PropAuthMethod | 1<<PropAuthData | 1<<PropResponseInfo | 1<<PropServerReference |
		1<<PropReceiveMaximum | 1<<PropTopicAliasMaximum | 1<<PropMaximumQoS | 1<<PropRetainAvailable |
		1<<PropMaximumPacketSize | 1<<PropWildcardSubAvailable | 1<<PropSubIDAvailable |
		1<<PropSharedSubAvailable
	messageProps = userProps | 1<<PropPayloadFormat | 1<<PropMessageExpiry | 1<<PropContentType |
		1<<PropResponseTopic | 1<<PropCorrelationData
	publishProps    = messageProps | 1<<PropSubscriptionID | 1<<PropTopicAlias
	willPropSet     = messageProps | 1<<PropWillDelay
	subscribeProps  = userProps | 1<<PropSubscriptionID
	disconnectProps = reasonProps | 1<<PropSessionExpiry | 1<<PropServerReference
	authProps       = reasonProps | 1<<PropAuthMethod | 1<<PropAuthData
)

// willProps stands for a will's properties where a Type is expected.
const willProps Type = 0

// owner names what properties of type t belong to.
func owner(t Type) string {
	if t == willProps {
		return "a will"
	}
	return t.String()
}

func allowedProps(t Type) propSet {
	switch t {
	case willProps:
		return willPropSet
	case TypeConnect:
		return connectProps
	case TypeConnack:
		return connackProps
	case TypePublish:
		return publishProps
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeSuback, TypeUnsuback:
		return reasonProps
	case TypeSubscribe:
		return subscribeProps
	case TypeUnsubscribe:
		return userProps
	case TypeDisconnect:
		return disconnectProps
	case TypeAuth:
		return authProps
	}
	return 0
}

// UserProperty is a name and value pair (5.0 §3.1.2.11.8 and the others),
// both UTF-8 strings. The same name may appear more than once, and the
// order is kept.
type UserProperty struct {
	Key, Value []byte
}

// Properties are the 5.0 properties of a packet or a will. A property with
// a single value is present when its identifier is in the set that Has
// reads and Set writes, and only then: a present zero value is not the
// same as an absent one (Maximum QoS 0, Retain Available 0). The
// repeatable ones, SubscriptionIDs and User, are present when not empty.
// Byte slices of decoded properties alias the Reader's buffer.
type Properties struct {
	present propSet

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          []byte
	ResponseTopic        []byte
	CorrelationData      []byte
	SubscriptionIDs      []uint32
	SessionExpiry        uint32
	AssignedClientID     []byte
	ServerKeepAlive      uint16
	AuthMethod           []byte
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         []byte
	ServerReference      []byte
	ReasonString         []byte
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	User                 []UserProperty
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

// Has reports whether the property id is present.
func (p *Properties) Has(id PropID) bool {
	switch id {
	case PropSubscriptionID:
		return len(p.SubscriptionIDs) > 0
	case PropUserProperty:
		return len(p.User) > 0
	}
	return id < 64 && p.present&(1<<id) != 0
}

// Set marks the properties ids as present: their fields are encoded.
// Set the field, then call Set. It ignores PropSubscriptionID and
// PropUserProperty, which are present when their slices are not empty.
func (p *Properties) Set(ids ...PropID) {
	for _, id := range ids {
		if kindOf(id).single() {
			p.present |= 1 << id
		}
	}
}

// Clear marks the property id as absent.
func (p *Properties) Clear(id PropID) {
	if id < 64 {
		p.present &^= 1 << id
	}
}

// reset empties p, keeping the capacity of its slices.
func (p *Properties) reset() {
	if p.present == 0 && len(p.SubscriptionIDs) == 0 && len(p.User) == 0 {
		return // the fields of absent properties are left zero
	}
	ids, user := p.SubscriptionIDs[:0], p.User[:0]
	*p = Properties{SubscriptionIDs: ids, User: user}
}

// Empty reports whether no property is present.
func (p *Properties) Empty() bool {
	return p.present == 0 && len(p.SubscriptionIDs) == 0 && len(p.User) == 0
}

// propKind is the data type of a property (5.0 §2.2.2.2, Table 2-4).
type propKind byte

const (
	kindNone propKind = iota
	kindByte
	kindUint16
	kindUint32
	kindVarint // only the Subscription Identifier, kept in a slice
	kindString
	kindBinary
	kindPair // only the User Property, kept in a slice
)

func (k propKind) single() bool { return k != kindNone && k != kindVarint && k != kindPair }

func kindOf(id PropID) propKind {
	switch id {
	case PropPayloadFormat, PropRequestProblemInfo, PropRequestResponseInfo, PropMaximumQoS,
		PropRetainAvailable, PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable:
		return kindByte
	case PropServerKeepAlive, PropReceiveMaximum, PropTopicAliasMaximum, PropTopicAlias:
		return kindUint16
	case PropMessageExpiry, PropSessionExpiry, PropWillDelay, PropMaximumPacketSize:
		return kindUint32
	case PropSubscriptionID:
		return kindVarint
	case PropContentType, PropResponseTopic, PropAssignedClientID, PropAuthMethod,
		PropResponseInfo, PropServerReference, PropReasonString:
		return kindString
	case PropCorrelationData, PropAuthData:
		return kindBinary
	case PropUserProperty:
		return kindPair
	}
	return kindNone
}

// field is where a single-valued property lives in a Properties: one of
// the pointers is set, as the property's kind says.
type field struct {
	b   *byte
	u16 *uint16
	u32 *uint32
	s   *[]byte
}

func (p *Properties) field(id PropID) field {
	switch id {
	case PropPayloadFormat:
		return field{b: &p.PayloadFormat}
	case PropMessageExpiry:
		return field{u32: &p.MessageExpiry}
	case PropContentType:
		return field{s: &p.ContentType}
	case PropResponseTopic:
		return field{s: &p.ResponseTopic}
	case PropCorrelationData:
		return field{s: &p.CorrelationData}
	case PropSessionExpiry:
		return field{u32: &p.SessionExpiry}
	case PropAssignedClientID:
		return field{s: &p.AssignedClientID}
	case PropServerKeepAlive:
		return field{u16: &p.ServerKeepAlive}
	case PropAuthMethod:
		return field{s: &p.AuthMethod}
	case PropAuthData:
		return field{s: &p.AuthData}
	case PropRequestProblemInfo:
		return field{b: &p.RequestProblemInfo}
	case PropWillDelay:
		return field{u32: &p.WillDelay}
	case PropRequestResponseInfo:
		return field{b: &p.RequestResponseInfo}
	case PropResponseInfo:
		return field{s: &p.ResponseInfo}
	case PropServerReference:
		return field{s: &p.ServerReference}
	case PropReasonString:
		return field{s: &p.ReasonString}
	case PropReceiveMaximum:
		return field{u16: &p.ReceiveMaximum}
	case PropTopicAliasMaximum:
		return field{u16: &p.TopicAliasMaximum}
	case PropTopicAlias:
		return field{u16: &p.TopicAlias}
	case PropMaximumQoS:
		return field{b: &p.MaximumQoS}
	case PropRetainAvailable:
		return field{b: &p.RetainAvailable}
	case PropMaximumPacketSize:
		return field{u32: &p.MaximumPacketSize}
	case PropWildcardSubAvailable:
		return field{b: &p.WildcardSubAvailable}
	case PropSubIDAvailable:
		return field{b: &p.SubIDAvailable}
	case PropSharedSubAvailable:
		return field{b: &p.SharedSubAvailable}
	}
	return field{}
}

// size returns the length of the encoded properties (without the property
// length before them) and adds their whole size to s. It records an error
// for a property that a packet of type t (or willProps) may not carry,
// which its receiver would take for a malformed packet.
func (p *Properties) size(s *sizer, t Type) int {
	allowed := allowedProps(t)
	if extra := p.present &^ allowed; extra != 0 {
		s.fail(PropID(bits.TrailingZeros64(uint64(extra))).String() + " is not a property of " + owner(t))
	}
	if len(p.SubscriptionIDs) > 0 && allowed&(1<<PropSubscriptionID) == 0 {
		s.fail("Subscription Identifier is not a property of " + owner(t))
	}
	n := 0
	for set := p.present; set != 0; set &= set - 1 {
		id := PropID(bits.TrailingZeros64(uint64(set)))
		f := p.field(id)
		switch {
		case f.b != nil:
			n += 2
		case f.u16 != nil:
			n += 3
		case f.u32 != nil:
			n += 5
		case f.s != nil:
			s.check(*f.s, "property")
			n += 3 + len(*f.s)
		}
	}
	for _, id := range p.SubscriptionIDs {
		if id > MaxRemainingLength {
			s.fail("Subscription Identifier larger than a variable byte integer")
		}
		n += 1 + varintLen(id)
	}
	for _, u := range p.User {
		s.check(u.Key, "user property name")
		s.check(u.Value, "user property value")
		n += 5 + len(u.Key) + len(u.Value)
	}
	s.add(varintLen(uint32(n)) + n)
	return n
}

// appendAt appends the properties at level v: nothing below 5.0.
func (p *Properties) appendAt(b []byte, v Version, n int) []byte {
	if v != V5 {
		return b
	}
	return p.appendTo(b, n)
}

// appendTo appends the property length n (from size) and the properties:
// the single-valued ones in the order of their identifiers, then the
// subscription identifiers, then the user properties in their order. The
// specification sets no order; this one is the package's canonical form.
func (p *Properties) appendTo(b []byte, n int) []byte {
	b = appendVarint(b, uint32(n))
	for set := p.present; set != 0; set &= set - 1 {
		id := PropID(bits.TrailingZeros64(uint64(set)))
		b = append(b, byte(id))
		switch f := p.field(id); {
		case f.b != nil:
			b = append(b, *f.b)
		case f.u16 != nil:
			b = appendUint16(b, *f.u16)
		case f.u32 != nil:
			b = appendUint32(b, *f.u32)
		case f.s != nil:
			b = appendString(b, *f.s)
		}
	}
	for _, id := range p.SubscriptionIDs {
		b = appendVarint(append(b, byte(PropSubscriptionID)), id)
	}
	for _, u := range p.User {
		b = appendString(appendString(append(b, byte(PropUserProperty)), u.Key), u.Value)
	}
	return b
}

var propNames = [...]string{
	PropPayloadFormat: "Payload Format Indicator", PropMessageExpiry: "Message Expiry Interval",
	PropContentType: "Content Type", PropResponseTopic: "Response Topic",
	PropCorrelationData: "Correlation Data", PropSubscriptionID: "Subscription Identifier",
	PropSessionExpiry: "Session Expiry Interval", PropAssignedClientID: "Assigned Client Identifier",
	PropServerKeepAlive: "Server Keep Alive", PropAuthMethod: "Authentication Method",
	PropAuthData: "Authentication Data", PropRequestProblemInfo: "Request Problem Information",
	PropWillDelay: "Will Delay Interval", PropRequestResponseInfo: "Request Response Information",
	PropResponseInfo: "Response Information", PropServerReference: "Server Reference",
	PropReasonString: "Reason String", PropReceiveMaximum: "Receive Maximum",
	PropTopicAliasMaximum: "Topic Alias Maximum", PropTopicAlias: "Topic Alias",
	PropMaximumQoS: "Maximum QoS", PropRetainAvailable: "Retain Available",
	PropUserProperty: "User Property", PropMaximumPacketSize: "Maximum Packet Size",
	PropWildcardSubAvailable: "Wildcard Subscription Available",
	PropSubIDAvailable:       "Subscription Identifier Available",
	PropSharedSubAvailable:   "Shared Subscription Available",
}

func (id PropID) String() string {
	if int(id) < len(propNames) && propNames[id] != "" {
		return propNames[id]
	}
	return "property 0x" + strconv.FormatUint(uint64(id), 16)
}
