package packet

import "bytes"

// Connect is CONNECT (3.1.1 §3.1, 5.0 §3.1), the client's first packet.
// The protocol level it declares is the Reader's Version once it is read.
type Connect struct {
	CleanStart bool   // Clean Session in 3.1.1
	KeepAlive  uint16 // seconds; 0 turns keep alive off
	Props      Properties
	ClientID   []byte
	Will       *Will // nil: no will
	// A user name and a password are present when their flags are set,
	// even when empty. At 3.1.1 a password needs a user name.
	HasUsername bool
	Username    []byte
	HasPassword bool
	Password    []byte
}

// Will is the will message of a CONNECT (3.1.1 §3.1.2.5-7 and §3.1.3.2-3,
// 5.0 §3.1.2.5-7 and §3.1.3.2-4).
type Will struct {
	QoS     QoS
	Retain  bool
	Props   Properties // 5.0 will properties
	Topic   []byte
	Payload []byte
}

// The CONNECT flags (3.1.1 §3.1.2.3, 5.0 §3.1.2.3).
const (
	flagUsername   = 0x80
	flagPassword   = 0x40
	flagWillRetain = 0x20
	flagWillQoS    = 0x18
	flagWill       = 0x04
	flagCleanStart = 0x02
	flagReserved   = 0x01
)

// protocolName is the protocol name of levels 4 and 5; 3.1 (level 3) had
// "MQIsdp".
var protocolName = []byte("MQTT")

// Type implements Packet.
func (*Connect) Type() Type { return TypeConnect }

func (p *Connect) layout(v Version) (l layout, err error) {
	s := sizer{n: 2 + len(protocolName) + 1 + 1 + 2}
	l.props = s.props(v, &p.Props, TypeConnect)
	s.str(p.ClientID, "client identifier")
	if w := p.Will; w != nil {
		l.will = s.props(v, &w.Props, willProps)
		s.str(w.Topic, "will topic")
		s.str(w.Payload, "will payload")
	}
	if p.HasUsername {
		s.str(p.Username, "user name")
	}
	if p.HasPassword {
		s.str(p.Password, "password")
	}
	l.rem, err = s.done(TypeConnect, v)
	return l, err
}

// Append implements Packet. It writes protocol level v.
func (p *Connect) Append(dst []byte, v Version) ([]byte, error) {
	l, err := p.layout(v)
	if err != nil {
		return dst, err
	}
	b := begin(dst, byte(TypeConnect)<<4, l.rem)
	b = appendString(b, protocolName)
	b = append(b, byte(v), p.flags())
	b = appendUint16(b, p.KeepAlive)
	b = p.Props.appendAt(b, v, l.props)
	b = appendString(b, p.ClientID)
	if w := p.Will; w != nil {
		b = w.Props.appendAt(b, v, l.will)
		b = appendString(appendString(b, w.Topic), w.Payload)
	}
	if p.HasUsername {
		b = appendString(b, p.Username)
	}
	if p.HasPassword {
		b = appendString(b, p.Password)
	}
	return b, nil
}

func (p *Connect) flags() byte {
	var f byte
	if p.HasUsername {
		f |= flagUsername
	}
	if p.HasPassword {
		f |= flagPassword
	}
	if w := p.Will; w != nil {
		f |= flagWill | byte(w.QoS&3)<<3
		if w.Retain {
			f |= flagWillRetain
		}
	}
	if p.CleanStart {
		f |= flagCleanStart
	}
	return f
}

// decodeConnect decodes a CONNECT body into p, and its will, if it has
// one, into will. It sets d.v to the level the packet declares.
func (d *decoder) decodeConnect(p *Connect, will *Will) {
	*p = Connect{Props: p.Props}
	name := d.bin("protocol name")
	level := Version(d.u8("protocol level"))
	if d.err != nil {
		return
	}
	d.v = level
	switch {
	case !bytes.Equal(name, protocolName):
		// 3.1.1 [MQTT-3.1.2-1], 5.0 §3.1.2.1: not this protocol, or
		// 3.1 ("MQIsdp", level 3).
		d.fail(UnsupportedProtocolVersion, "protocol name is not MQTT")
		return
	case level != V311 && level != V5:
		// 3.1.1 [MQTT-3.1.2-2], 5.0 §3.1.2.2.
		d.fail(UnsupportedProtocolVersion, "protocol level is neither 4 nor 5")
		return
	}
	flags := d.u8("connect flags")
	p.KeepAlive = d.u16("keep alive")
	switch {
	case d.err != nil:
		return
	case flags&flagReserved != 0:
		d.malformed("reserved connect flag set") // [MQTT-3.1.2-3]
	case flags&flagWill == 0 && flags&(flagWillQoS|flagWillRetain) != 0:
		d.malformed("will QoS or retain without a will") // [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
	case flags&flagWillQoS == flagWillQoS:
		d.malformed("will QoS 3") // [MQTT-3.1.2-14]
	case level == V311 && flags&flagPassword != 0 && flags&flagUsername == 0:
		d.malformed("password without user name") // 3.1.1 [MQTT-3.1.2-22]
	}
	p.CleanStart = flags&flagCleanStart != 0
	d.props(&p.Props, TypeConnect)
	p.ClientID = d.str("client identifier")
	if flags&flagWill != 0 {
		d.decodeWill(will, flags)
		p.Will = will
	}
	if p.HasUsername = flags&flagUsername != 0; p.HasUsername {
		p.Username = d.str("user name")
	}
	if p.HasPassword = flags&flagPassword != 0; p.HasPassword {
		p.Password = d.bin("password")
	}
	d.end()
}

func (d *decoder) decodeWill(w *Will, flags byte) {
	*w = Will{QoS: QoS(flags&flagWillQoS) >> 3, Retain: flags&flagWillRetain != 0, Props: w.Props}
	d.props(&w.Props, willProps)
	w.Topic = d.str("will topic")
	if d.err == nil {
		if len(w.Topic) == 0 {
			d.fail(TopicNameInvalid, "empty will topic") // [MQTT-4.7.3-1]
		}
		d.checkTopicName(w.Topic, "will topic")
	}
	w.Payload = d.bin("will payload")
}

// Connack is CONNACK (3.1.1 §3.2, 5.0 §3.2). At V311 ReasonCode is the
// connect return code, 0 to 5, and there are no properties.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Props          Properties
}

// Type implements Packet.
func (*Connack) Type() Type { return TypeConnack }

func (p *Connack) layout(v Version) (l layout, err error) {
	s := sizer{n: 2}
	l.props = s.props(v, &p.Props, TypeConnack)
	l.rem, err = s.done(TypeConnack, v)
	return l, err
}

// Append implements Packet.
func (p *Connack) Append(dst []byte, v Version) ([]byte, error) {
	l, err := p.layout(v)
	if err != nil {
		return dst, err
	}
	b := begin(dst, byte(TypeConnack)<<4, l.rem)
	var ack byte
	if p.SessionPresent {
		ack = 1
	}
	b = append(b, ack, byte(p.ReasonCode))
	b = p.Props.appendAt(b, v, l.props)
	return b, nil
}

func (d *decoder) decodeConnack(p *Connack) {
	ack := d.u8("acknowledge flags")
	if ack&^1 != 0 && d.err == nil {
		d.malformed("reserved acknowledge flags set") // 3.1.1 §3.2.2.1, 5.0 [MQTT-3.2.2-1]
	}
	p.SessionPresent = ack&1 != 0
	p.ReasonCode = d.reason()
	if p.SessionPresent && p.ReasonCode != Success && d.err == nil {
		d.fail(ProtocolError, "session present with a refusal") // 3.1.1 [MQTT-3.2.2-4], 5.0 [MQTT-3.2.2-6]
	}
	d.props(&p.Props, TypeConnack)
	d.end()
}
