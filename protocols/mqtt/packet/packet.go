package packet

import (
	"fmt"
	"strconv"
)

// Type is an MQTT control packet type, the high nibble of the first byte
// of the fixed header (3.1.1 §2.2.1, 5.0 §2.1.2).
type Type byte

// The control packet types. 0 is reserved in both versions; 15 (AUTH)
// exists only in 5.0 and is reserved in 3.1.1.
const (
	TypeConnect     Type = 1
	TypeConnack     Type = 2
	TypePublish     Type = 3
	TypePuback      Type = 4
	TypePubrec      Type = 5
	TypePubrel      Type = 6
	TypePubcomp     Type = 7
	TypeSubscribe   Type = 8
	TypeSuback      Type = 9
	TypeUnsubscribe Type = 10
	TypeUnsuback    Type = 11
	TypePingreq     Type = 12
	TypePingresp    Type = 13
	TypeDisconnect  Type = 14
	TypeAuth        Type = 15
)

var typeNames = [16]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

func (t Type) String() string {
	if t < 16 {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// fixedFlags is the value the low nibble of the first byte must have for
// every type but PUBLISH (3.1.1 §2.2.2 Table 2.2, 5.0 §2.1.3 Table 2-2).
func fixedFlags(t Type) byte {
	switch t {
	case TypePubrel, TypeSubscribe, TypeUnsubscribe:
		return 0b0010
	}
	return 0
}

// Version is the protocol level of the CONNECT packet.
type Version byte

// The protocol levels this package reads and writes.
const (
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

func (v Version) String() string {
	switch v {
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return "level " + strconv.Itoa(int(v))
}

// checkVersion returns an error wrapping ErrEncode if v is not a level
// this package writes.
func checkVersion(v Version) error {
	if v != V311 && v != V5 {
		return fmt.Errorf("%w: protocol %v", ErrEncode, v)
	}
	return nil
}

// QoS is a quality of service level: 0 at most once, 1 at least once,
// 2 exactly once. 3 is malformed wherever a QoS appears.
type QoS byte

// Limits of the encoding (3.1.1 §1.5.3 and §2.2.3, 5.0 §1.5.4 and §1.5.5).
const (
	MaxRemainingLength = 268435455 // the largest variable byte integer
	MaxString          = 65535     // the longest UTF-8 string or binary data
	maxHeaderLen       = 5         // first byte + a 4-byte remaining length
)

// A Packet is one of the control packets of this package: *Connect,
// *Connack, *Publish, *Puback, *Pubrec, *Pubrel, *Pubcomp, *Subscribe,
// *Suback, *Unsubscribe, *Unsuback, *Pingreq, *Pingresp, *Disconnect,
// *Auth.
type Packet interface {
	// Type is the packet's control packet type.
	Type() Type
	// Append appends the whole packet, fixed header included, encoded for
	// protocol level v. It grows dst at most once and does not allocate
	// when dst has room. Fields that do not exist at level v (properties
	// and reason codes at V311) are left out. It returns dst unchanged and
	// an error wrapping ErrEncode if the packet cannot be encoded: a level
	// other than V311 and V5, AUTH at V311, a string or binary field
	// longer than MaxString, a property the packet may not carry, or a
	// packet longer than the encoding allows. Otherwise it writes what it
	// is given: checking a topic, a QoS or a packet identifier is the
	// caller's business.
	Append(dst []byte, v Version) ([]byte, error)
	// layout returns the remaining length of the packet at level v and the
	// lengths of its property lists.
	layout(v Version) (layout, error)
}

// layout is what an encoder learns from sizing a packet before it writes
// it.
type layout struct {
	rem   int // the remaining length
	props int // the length of the properties, without their length
	will  int // the same for the will properties of a CONNECT
}

// Size returns the number of bytes p.Append(nil, v) would append, or the
// error it would return. A 5.0 sender checks it against the peer's
// Maximum Packet Size before it encodes.
func Size(p Packet, v Version) (int, error) {
	l, err := p.layout(v)
	if err != nil {
		return 0, err
	}
	return 1 + varintLen(uint32(l.rem)) + l.rem, nil
}

// Pingreq is PINGREQ (3.1.1 §3.12, 5.0 §3.12): no variable header, no
// payload.
type Pingreq struct{}

// Pingresp is PINGRESP (3.1.1 §3.13, 5.0 §3.13): no variable header, no
// payload.
type Pingresp struct{}

// Type implements Packet.
func (*Pingreq) Type() Type { return TypePingreq }

// Type implements Packet.
func (*Pingresp) Type() Type { return TypePingresp }

// Append implements Packet.
func (*Pingreq) Append(dst []byte, v Version) ([]byte, error) {
	return appendEmpty(dst, v, TypePingreq)
}

// Append implements Packet.
func (*Pingresp) Append(dst []byte, v Version) ([]byte, error) {
	return appendEmpty(dst, v, TypePingresp)
}

func (*Pingreq) layout(v Version) (layout, error)  { return layout{}, checkVersion(v) }
func (*Pingresp) layout(v Version) (layout, error) { return layout{}, checkVersion(v) }

// appendEmpty appends a packet of type t that is only a fixed header.
func appendEmpty(dst []byte, v Version, t Type) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	return append(dst, byte(t)<<4, 0), nil
}
