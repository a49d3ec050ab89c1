package packet

import "fmt"

// ReasonCode is a 5.0 reason code (5.0 §2.4, Table 2-6), or, in a 3.1.1
// CONNACK, a connect return code (3.1.1 §3.2.2.3, Table 3.1), and in a
// 3.1.1 SUBACK a return code (3.1.1 §3.9.3), whose values 0x00, 0x01,
// 0x02 and 0x80 mean what the 5.0 codes of the same values mean.
type ReasonCode byte

// The 5.0 reason codes. Codes below 0x80 report success, the others
// failure. Some values have several names, one per packet that uses them.
const (
	Success                           ReasonCode = 0x00
	NormalDisconnection               ReasonCode = 0x00
	GrantedQoS0                       ReasonCode = 0x00
	GrantedQoS1                       ReasonCode = 0x01
	GrantedQoS2                       ReasonCode = 0x02
	DisconnectWithWill                ReasonCode = 0x04
	NoMatchingSubscribers             ReasonCode = 0x10
	NoSubscriptionExisted             ReasonCode = 0x11
	ContinueAuthentication            ReasonCode = 0x18
	ReAuthenticate                    ReasonCode = 0x19
	UnspecifiedError                  ReasonCode = 0x80
	MalformedPacket                   ReasonCode = 0x81
	ProtocolError                     ReasonCode = 0x82
	ImplementationSpecificError       ReasonCode = 0x83
	UnsupportedProtocolVersion        ReasonCode = 0x84
	ClientIDNotValid                  ReasonCode = 0x85
	BadUserNameOrPassword             ReasonCode = 0x86
	NotAuthorized                     ReasonCode = 0x87
	ServerUnavailable                 ReasonCode = 0x88
	ServerBusy                        ReasonCode = 0x89
	Banned                            ReasonCode = 0x8A
	ServerShuttingDown                ReasonCode = 0x8B
	BadAuthenticationMethod           ReasonCode = 0x8C
	KeepAliveTimeout                  ReasonCode = 0x8D
	SessionTakenOver                  ReasonCode = 0x8E
	TopicFilterInvalid                ReasonCode = 0x8F
	TopicNameInvalid                  ReasonCode = 0x90
	PacketIDInUse                     ReasonCode = 0x91
	PacketIDNotFound                  ReasonCode = 0x92
	ReceiveMaximumExceeded            ReasonCode = 0x93
	TopicAliasInvalid                 ReasonCode = 0x94
	PacketTooLarge                    ReasonCode = 0x95
	MessageRateTooHigh                ReasonCode = 0x96
	QuotaExceeded                     ReasonCode = 0x97
	AdministrativeAction              ReasonCode = 0x98
	PayloadFormatInvalid              ReasonCode = 0x99
	RetainNotSupported                ReasonCode = 0x9A
	QoSNotSupported                   ReasonCode = 0x9B
	UseAnotherServer                  ReasonCode = 0x9C
	ServerMoved                       ReasonCode = 0x9D
	SharedSubscriptionsNotSupported   ReasonCode = 0x9E
	ConnectionRateExceeded            ReasonCode = 0x9F
	MaximumConnectTime                ReasonCode = 0xA0
	SubscriptionIDsNotSupported       ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported ReasonCode = 0xA2
)

// The 3.1.1 CONNACK return codes (3.1.1 §3.2.2.3, Table 3.1); 0 is
// Success.
const (
	RefusedProtocolVersion       ReasonCode = 0x01
	RefusedIdentifierRejected    ReasonCode = 0x02
	RefusedServerUnavailable     ReasonCode = 0x03
	RefusedBadUserNameOrPassword ReasonCode = 0x04
	RefusedNotAuthorized         ReasonCode = 0x05
)

var reasonNames = map[ReasonCode]string{
	0x00: "success", 0x01: "granted QoS 1", 0x02: "granted QoS 2",
	0x04: "disconnect with will message", 0x10: "no matching subscribers",
	0x11: "no subscription existed", 0x18: "continue authentication", 0x19: "re-authenticate",
	0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
	0x83: "implementation specific error", 0x84: "unsupported protocol version",
	0x85: "client identifier not valid", 0x86: "bad user name or password",
	0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
	0x8B: "server shutting down", 0x8C: "bad authentication method",
	0x8D: "keep alive timeout", 0x8E: "session taken over", 0x8F: "topic filter invalid",
	0x90: "topic name invalid", 0x91: "packet identifier in use",
	0x92: "packet identifier not found", 0x93: "receive maximum exceeded",
	0x94: "topic alias invalid", 0x95: "packet too large", 0x96: "message rate too high",
	0x97: "quota exceeded", 0x98: "administrative action", 0x99: "payload format invalid",
	0x9A: "retain not supported", 0x9B: "QoS not supported", 0x9C: "use another server",
	0x9D: "server moved", 0x9E: "shared subscriptions not supported",
	0x9F: "connection rate exceeded", 0xA0: "maximum connect time",
	0xA1: "subscription identifiers not supported", 0xA2: "wildcard subscriptions not supported",
}

// String returns the 5.0 name of c.
func (c ReasonCode) String() string {
	if s, ok := reasonNames[c]; ok {
		return s
	}
	return fmt.Sprintf("reason code 0x%02X", byte(c))
}

// V311Connack returns the 3.1.1 CONNACK return code that says what the
// 5.0 CONNACK reason code c says (3.1.1 §3.2.2.3): 0x84 becomes 0x01,
// 0x85 0x02, 0x88 and 0x89 0x03, 0x86 0x04, 0x87 0x05. Other failures
// have no 3.1.1 code: it returns 0x03 (server unavailable) for them, and
// Success for Success.
func (c ReasonCode) V311Connack() ReasonCode {
	switch c {
	case Success:
		return Success
	case UnsupportedProtocolVersion:
		return RefusedProtocolVersion
	case ClientIDNotValid:
		return RefusedIdentifierRejected
	case BadUserNameOrPassword:
		return RefusedBadUserNameOrPassword
	case NotAuthorized, Banned:
		return RefusedNotAuthorized
	}
	return RefusedServerUnavailable
}

// validReason reports whether c may appear in a packet of type t at
// level v (5.0 §3.2.2.2, §3.4.2.1, §3.5.2.1, §3.6.2.1, §3.7.2.1,
// §3.9.3, §3.11.3, §3.14.2.1, §3.15.2.1; 3.1.1 §3.2.2.3 and §3.9.3).
func validReason(t Type, v Version, c ReasonCode) bool {
	if v == V311 {
		switch t {
		case TypeConnack:
			return c <= RefusedNotAuthorized
		case TypeSuback:
			return c <= GrantedQoS2 || c == UnspecifiedError
		}
		return false
	}
	switch t {
	case TypeConnack:
		switch c {
		case Success, UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecificError,
			UnsupportedProtocolVersion, ClientIDNotValid, BadUserNameOrPassword, NotAuthorized,
			ServerUnavailable, ServerBusy, Banned, BadAuthenticationMethod, TopicNameInvalid,
			PacketTooLarge, QuotaExceeded, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported,
			UseAnotherServer, ServerMoved, ConnectionRateExceeded:
			return true
		}
	case TypePuback, TypePubrec:
		switch c {
		case Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
			NotAuthorized, TopicNameInvalid, PacketIDInUse, QuotaExceeded, PayloadFormatInvalid:
			return true
		}
	case TypePubrel, TypePubcomp:
		return c == Success || c == PacketIDNotFound
	case TypeSuback:
		switch c {
		case GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecificError,
			NotAuthorized, TopicFilterInvalid, PacketIDInUse, QuotaExceeded,
			SharedSubscriptionsNotSupported, SubscriptionIDsNotSupported, WildcardSubscriptionsNotSupported:
			return true
		}
	case TypeUnsuback:
		switch c {
		case Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecificError,
			NotAuthorized, TopicFilterInvalid, PacketIDInUse:
			return true
		}
	case TypeDisconnect:
		switch c {
		case NormalDisconnection, DisconnectWithWill, UnspecifiedError, MalformedPacket, ProtocolError,
			ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown,
			KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid,
			ReceiveMaximumExceeded, TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh,
			QuotaExceeded, AdministrativeAction, PayloadFormatInvalid, RetainNotSupported,
			QoSNotSupported, UseAnotherServer, ServerMoved, SharedSubscriptionsNotSupported,
			ConnectionRateExceeded, MaximumConnectTime, SubscriptionIDsNotSupported,
			WildcardSubscriptionsNotSupported:
			return true
		}
	case TypeAuth:
		return c == Success || c == ContinueAuthentication || c == ReAuthenticate
	}
	return false
}

// The acknowledgements of QoS 1 and 2, DISCONNECT and AUTH end in a tail:
// at 5.0 a reason code and properties, of which the properties may be left
// out when there are none, and the reason code too when it is Success
// (5.0 §3.4.2.1, §3.5.2.1, §3.6.2.1, §3.7.2.1, §3.14.2.1, §3.15.2.1).
// This package leaves out what it may.

// tail adds the tail of reason code c and properties p at level v, and
// returns the properties' length for appendTail.
func (s *sizer) tail(v Version, c ReasonCode, p *Properties, t Type) int {
	if v != V5 || c == Success && p.Empty() {
		return 0
	}
	s.add(1)
	if p.Empty() {
		return 0
	}
	return p.size(s, t)
}

// appendTail appends the tail of size n that sizer.tail counted, whose
// properties are props bytes long.
func appendTail(b []byte, n int, c ReasonCode, p *Properties, props int) []byte {
	if n > 0 {
		b = append(b, byte(c))
	}
	if n > 1 {
		b = p.appendTo(b, props)
	}
	return b
}

// tail reads a tail, which ends the packet.
func (d *decoder) tail(c *ReasonCode, p *Properties) {
	*c = Success
	p.reset()
	if d.v == V5 && len(d.b) > 0 {
		*c = d.reason()
		if len(d.b) > 0 {
			d.props(p, d.t)
		}
	}
	d.end()
}
