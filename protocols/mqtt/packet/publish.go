package packet

// Publish is PUBLISH (3.1.1 §3.3, 5.0 §3.3). Decoded by a Reader, Topic,
// Payload and the properties' byte slices alias the Reader's buffer until
// its next ReadPacket.
type Publish struct {
	Dup      bool
	QoS      QoS
	Retain   bool
	Topic    []byte // empty at 5.0 when Props carries a Topic Alias
	PacketID uint16 // QoS 1 and 2 only
	Props    Properties
	Payload  []byte
}

// Type implements Packet.
func (*Publish) Type() Type { return TypePublish }

func (p *Publish) layout(v Version) (l layout, err error) {
	s := sizer{n: len(p.Payload)}
	s.str(p.Topic, "topic name")
	if p.QoS > 0 {
		s.add(2)
	}
	l.props = s.props(v, &p.Props, TypePublish)
	l.rem, err = s.done(TypePublish, v)
	return l, err
}

// Append implements Packet. A QoS above 2 is written as its two low bits.
func (p *Publish) Append(dst []byte, v Version) ([]byte, error) {
	l, err := p.layout(v)
	if err != nil {
		return dst, err
	}
	first := byte(TypePublish)<<4 | byte(p.QoS&3)<<1
	if p.Dup {
		first |= 0x08
	}
	if p.Retain {
		first |= 0x01
	}
	b := appendString(begin(dst, first, l.rem), p.Topic)
	if p.QoS > 0 {
		b = appendUint16(b, p.PacketID)
	}
	b = p.Props.appendAt(b, v, l.props)
	return append(b, p.Payload...), nil
}

// decodePublish decodes a PUBLISH whose fixed header flags are flags.
func (d *decoder) decodePublish(p *Publish, flags byte) {
	p.Dup, p.QoS, p.Retain = flags&0x08 != 0, QoS(flags>>1&3), flags&0x01 != 0
	switch {
	case p.QoS == 3:
		d.malformed("QoS 3") // 3.1.1 [MQTT-3.3.1-4], 5.0 [MQTT-3.3.1-4]
		return
	case p.QoS == 0 && p.Dup:
		d.malformed("DUP set at QoS 0") // 3.1.1 [MQTT-3.3.1-2], 5.0 [MQTT-3.3.1-2]
		return
	}
	p.Topic = d.bin("topic name")
	if d.err == nil {
		d.checkTopicName(p.Topic, "topic name")
	}
	p.PacketID = 0
	if p.QoS > 0 {
		p.PacketID = d.packetID()
	}
	d.props(&p.Props, TypePublish)
	if len(p.Topic) == 0 && !p.Props.Has(PropTopicAlias) && d.err == nil {
		// 3.1.1 [MQTT-4.7.3-1]; 5.0 §3.3.2.1 allows it with a Topic Alias.
		d.fail(ProtocolError, "empty topic name without a topic alias")
	}
	p.Payload = d.b
	d.b = nil
}

// Ack is the body of the four acknowledgements of the QoS 1 and 2 flows,
// PUBACK, PUBREC, PUBREL and PUBCOMP (3.1.1 §3.4-3.7, 5.0 §3.4-3.7), which
// are Ack under other names. At V311 only PacketID exists. At V5 a reason
// code Success and no properties are left out of the encoding, as 5.0
// §3.4.2.1 allows.
type Ack struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Props      Properties
}

type (
	Puback  Ack // PUBACK: QoS 1 publish received
	Pubrec  Ack // PUBREC: QoS 2 publish received, part 1
	Pubrel  Ack // PUBREL: QoS 2 publish release, part 2
	Pubcomp Ack // PUBCOMP: QoS 2 publish complete, part 3
)

// Type implements Packet.
func (*Puback) Type() Type { return TypePuback }

// Type implements Packet.
func (*Pubrec) Type() Type { return TypePubrec }

// Type implements Packet.
func (*Pubrel) Type() Type { return TypePubrel }

// Type implements Packet.
func (*Pubcomp) Type() Type { return TypePubcomp }

// Append implements Packet.
func (p *Puback) Append(dst []byte, v Version) ([]byte, error) {
	return (*Ack)(p).append(dst, v, TypePuback)
}

// Append implements Packet.
func (p *Pubrec) Append(dst []byte, v Version) ([]byte, error) {
	return (*Ack)(p).append(dst, v, TypePubrec)
}

// Append implements Packet.
func (p *Pubrel) Append(dst []byte, v Version) ([]byte, error) {
	return (*Ack)(p).append(dst, v, TypePubrel)
}

// Append implements Packet.
func (p *Pubcomp) Append(dst []byte, v Version) ([]byte, error) {
	return (*Ack)(p).append(dst, v, TypePubcomp)
}

func (p *Puback) layout(v Version) (layout, error)  { return (*Ack)(p).layout(v, TypePuback) }
func (p *Pubrec) layout(v Version) (layout, error)  { return (*Ack)(p).layout(v, TypePubrec) }
func (p *Pubrel) layout(v Version) (layout, error)  { return (*Ack)(p).layout(v, TypePubrel) }
func (p *Pubcomp) layout(v Version) (layout, error) { return (*Ack)(p).layout(v, TypePubcomp) }

// as returns a as the packet of type t.
func (a *Ack) as(t Type) Packet {
	switch t {
	case TypePuback:
		return (*Puback)(a)
	case TypePubrec:
		return (*Pubrec)(a)
	case TypePubrel:
		return (*Pubrel)(a)
	}
	return (*Pubcomp)(a)
}

func (p *Ack) layout(v Version, t Type) (l layout, err error) {
	s := sizer{n: 2}
	l.props = s.tail(v, p.ReasonCode, &p.Props, t)
	l.rem, err = s.done(t, v)
	return l, err
}

func (p *Ack) append(dst []byte, v Version, t Type) ([]byte, error) {
	l, err := p.layout(v, t)
	if err != nil {
		return dst, err
	}
	b := appendUint16(begin(dst, byte(t)<<4|fixedFlags(t), l.rem), p.PacketID)
	return appendTail(b, l.rem-2, p.ReasonCode, &p.Props, l.props), nil
}

// decodeAck decodes the body of PUBACK, PUBREC, PUBREL or PUBCOMP into p,
// and returns p.
func (d *decoder) decodeAck(p *Ack) *Ack {
	p.PacketID = d.packetID()
	d.tail(&p.ReasonCode, &p.Props)
	return p
}
