package packet

// Subscribe is SUBSCRIBE (3.1.1 §3.8, 5.0 §3.8). The Reader has checked
// every filter: use SplitShared to take a shared one apart.
type Subscribe struct {
	PacketID      uint16
	Props         Properties // a Subscription Identifier, user properties
	Subscriptions []Subscription
}

// Subscription is one topic filter of a SUBSCRIBE with its subscription
// options (3.1.1 §3.8.3.1, 5.0 §3.8.3.1). At V311 only QoS exists.
type Subscription struct {
	Filter            []byte
	QoS               QoS // the maximum QoS of the messages sent for it
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    RetainHandling
}

// RetainHandling says when the retained messages of a new subscription
// are sent (5.0 §3.8.3.1).
type RetainHandling byte

// The retain handling options.
const (
	SendRetained         RetainHandling = 0 // at every subscribe
	SendRetainedIfNew    RetainHandling = 1 // if the subscription did not exist
	DoNotSendRetained    RetainHandling = 2 // never
	subOptionNoLocal                    = 0x04
	subOptionRetainAsPub                = 0x08
)

func (s *Subscription) options(v Version) byte {
	o := byte(s.QoS & 3)
	if v == V311 {
		return o
	}
	if s.NoLocal {
		o |= subOptionNoLocal
	}
	if s.RetainAsPublished {
		o |= subOptionRetainAsPub
	}
	return o | byte(s.RetainHandling&3)<<4
}

// Type implements Packet.
func (*Subscribe) Type() Type { return TypeSubscribe }

func (p *Subscribe) layout(v Version) (l layout, err error) {
	s := sizer{n: 2}
	l.props = s.props(v, &p.Props, TypeSubscribe)
	for i := range p.Subscriptions {
		s.str(p.Subscriptions[i].Filter, "topic filter")
		s.add(1)
	}
	l.rem, err = s.done(TypeSubscribe, v)
	return l, err
}

// Append implements Packet. At V311 only the QoS of the options is
// written.
func (p *Subscribe) Append(dst []byte, v Version) ([]byte, error) {
	l, err := p.layout(v)
	if err != nil {
		return dst, err
	}
	b := appendUint16(begin(dst, byte(TypeSubscribe)<<4|fixedFlags(TypeSubscribe), l.rem), p.PacketID)
	b = p.Props.appendAt(b, v, l.props)
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		b = append(appendString(b, s.Filter), s.options(v))
	}
	return b, nil
}

func (d *decoder) decodeSubscribe(p *Subscribe) {
	p.PacketID = d.packetID()
	d.props(&p.Props, TypeSubscribe)
	p.Subscriptions = p.Subscriptions[:0]
	for len(d.b) > 0 && d.err == nil {
		f := d.str("topic filter")
		o := d.u8("subscription options")
		if d.err != nil {
			break
		}
		shared := d.checkFilter(f)
		s := Subscription{Filter: f, QoS: QoS(o & 3)}
		if d.v == V5 {
			s.NoLocal = o&subOptionNoLocal != 0
			s.RetainAsPublished = o&subOptionRetainAsPub != 0
			s.RetainHandling = RetainHandling(o >> 4 & 3)
		}
		switch {
		case d.err != nil:
		case o&0xc0 != 0 || d.v == V311 && o&0xfc != 0:
			d.malformed("reserved subscription option bits set") // 3.1.1 [MQTT-3-8.3-4], 5.0 [MQTT-3.8.3-5]
		case s.QoS == 3:
			d.malformed("QoS 3") // 3.1.1 [MQTT-3-8.3-4], 5.0 §3.8.3.1
		case s.RetainHandling == 3:
			d.fail(ProtocolError, "retain handling 3") // 5.0 §3.8.3.1
		case s.NoLocal && shared:
			d.fail(ProtocolError, "no local on a shared subscription") // 5.0 [MQTT-3.8.3-4]
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	if len(p.Subscriptions) == 0 && d.err == nil {
		d.fail(ProtocolError, "no topic filter") // 3.1.1 [MQTT-3.8.3-3], 5.0 [MQTT-3.8.3-2]
	}
}

// Suback is SUBACK (3.1.1 §3.9, 5.0 §3.9): one reason code (3.1.1 return
// code) per filter of the SUBSCRIBE, in its order.
type Suback struct {
	PacketID    uint16
	Props       Properties
	ReasonCodes []ReasonCode
}

// Unsuback is UNSUBACK (3.1.1 §3.11, 5.0 §3.11), a Suback under another
// name. At V311 it has only a packet identifier; at V5 one reason code per
// filter of the UNSUBSCRIBE.
type Unsuback Suback

// Type implements Packet.
func (*Suback) Type() Type { return TypeSuback }

// Type implements Packet.
func (*Unsuback) Type() Type { return TypeUnsuback }

// Append implements Packet.
func (p *Suback) Append(dst []byte, v Version) ([]byte, error) { return p.append(dst, v, TypeSuback) }

// Append implements Packet.
func (p *Unsuback) Append(dst []byte, v Version) ([]byte, error) {
	return (*Suback)(p).append(dst, v, TypeUnsuback)
}

func (p *Suback) layout(v Version) (layout, error)   { return p.layoutAs(v, TypeSuback) }
func (p *Unsuback) layout(v Version) (layout, error) { return (*Suback)(p).layoutAs(v, TypeUnsuback) }

// as returns p as the packet of type t, SUBACK or UNSUBACK.
func (p *Suback) as(t Type) Packet {
	if t == TypeUnsuback {
		return (*Unsuback)(p)
	}
	return p
}

// layoutAs sizes a SUBACK or an UNSUBACK: a packet identifier, properties
// at V5 and the reason codes, of which a 3.1.1 UNSUBACK has none.
func (p *Suback) layoutAs(v Version, t Type) (l layout, err error) {
	s := sizer{n: 2}
	l.props = s.props(v, &p.Props, t)
	if v == V5 || t == TypeSuback {
		s.add(len(p.ReasonCodes))
	}
	l.rem, err = s.done(t, v)
	return l, err
}

func (p *Suback) append(dst []byte, v Version, t Type) ([]byte, error) {
	l, err := p.layoutAs(v, t)
	if err != nil {
		return dst, err
	}
	b := appendUint16(begin(dst, byte(t)<<4, l.rem), p.PacketID)
	b = p.Props.appendAt(b, v, l.props)
	if v == V5 || t == TypeSuback {
		for _, c := range p.ReasonCodes {
			b = append(b, byte(c))
		}
	}
	return b, nil
}

// decodeCodes decodes the body of a SUBACK or an UNSUBACK into p, and
// returns p.
func (d *decoder) decodeCodes(p *Suback) *Suback {
	p.PacketID = d.packetID()
	p.ReasonCodes = p.ReasonCodes[:0]
	p.Props.reset()
	if d.v == V311 && d.t == TypeUnsuback {
		d.end()
		return p
	}
	d.props(&p.Props, d.t)
	for len(d.b) > 0 && d.err == nil {
		p.ReasonCodes = append(p.ReasonCodes, d.reason())
	}
	if len(p.ReasonCodes) == 0 && d.err == nil {
		d.fail(ProtocolError, "no reason code") // one per filter, and a filter at least
	}
	return p
}

// Unsubscribe is UNSUBSCRIBE (3.1.1 §3.10, 5.0 §3.10). The Reader has
// checked every filter.
type Unsubscribe struct {
	PacketID uint16
	Props    Properties // user properties
	Filters  [][]byte
}

// Type implements Packet.
func (*Unsubscribe) Type() Type { return TypeUnsubscribe }

func (p *Unsubscribe) layout(v Version) (l layout, err error) {
	s := sizer{n: 2}
	l.props = s.props(v, &p.Props, TypeUnsubscribe)
	for _, f := range p.Filters {
		s.str(f, "topic filter")
	}
	l.rem, err = s.done(TypeUnsubscribe, v)
	return l, err
}

// Append implements Packet.
func (p *Unsubscribe) Append(dst []byte, v Version) ([]byte, error) {
	l, err := p.layout(v)
	if err != nil {
		return dst, err
	}
	b := appendUint16(begin(dst, byte(TypeUnsubscribe)<<4|fixedFlags(TypeUnsubscribe), l.rem), p.PacketID)
	b = p.Props.appendAt(b, v, l.props)
	for _, f := range p.Filters {
		b = appendString(b, f)
	}
	return b, nil
}

func (d *decoder) decodeUnsubscribe(p *Unsubscribe) {
	p.PacketID = d.packetID()
	d.props(&p.Props, TypeUnsubscribe)
	p.Filters = p.Filters[:0]
	for len(d.b) > 0 && d.err == nil {
		f := d.str("topic filter")
		if d.err == nil {
			d.checkFilter(f)
		}
		p.Filters = append(p.Filters, f)
	}
	if len(p.Filters) == 0 && d.err == nil {
		d.fail(ProtocolError, "no topic filter") // 3.1.1 [MQTT-3.10.3-2], 5.0 [MQTT-3.10.3-2]
	}
}
