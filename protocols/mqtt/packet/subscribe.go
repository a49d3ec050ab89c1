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

func (p *Subscribe) sizes(v Version) (rem, props int, err error) {
	s := sizer{n: 2}
	if v == V5 {
		props = p.Props.size(&s)
	}
	for i := range p.Subscriptions {
		s.str(p.Subscriptions[i].Filter, "topic filter")
		s.add(1)
	}
	rem, err = s.remaining(TypeSubscribe)
	return rem, props, err
}

func (p *Subscribe) remaining(v Version) (int, error) {
	rem, _, err := p.sizes(v)
	return rem, err
}

// Append implements Packet. At V311 only the QoS of the options is
// written.
func (p *Subscribe) Append(dst []byte, v Version) ([]byte, error) {
	rem, props, err := p.sizes(v)
	if err == nil {
		err = checkVersion(v)
	}
	if err != nil {
		return dst, err
	}
	b := appendUint16(begin(dst, byte(TypeSubscribe)<<4|fixedFlags(TypeSubscribe), rem), p.PacketID)
	if v == V5 {
		b = p.Props.appendTo(b, props)
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		b = append(appendString(b, s.Filter), s.options(v))
	}
	return b, nil
}

func (d *decoder) decodeSubscribe(p *Subscribe) {
	p.PacketID = d.packetID()
	if d.v == V5 {
		d.props(&p.Props, TypeSubscribe)
	} else {
		p.Props.reset()
	}
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

// Type implements Packet.
func (*Suback) Type() Type { return TypeSuback }

func (p *Suback) remaining(v Version) (int, error) {
	rem, _, err := ackSizes(v, &p.Props, p.ReasonCodes, TypeSuback)
	return rem, err
}

// Append implements Packet.
func (p *Suback) Append(dst []byte, v Version) ([]byte, error) {
	return appendAck(dst, v, TypeSuback, p.PacketID, &p.Props, p.ReasonCodes)
}

// Unsuback is UNSUBACK (3.1.1 §3.11, 5.0 §3.11). At V311 it has only a
// packet identifier; at V5 one reason code per filter of the UNSUBSCRIBE.
type Unsuback struct {
	PacketID    uint16
	Props       Properties
	ReasonCodes []ReasonCode
}

// Type implements Packet.
func (*Unsuback) Type() Type { return TypeUnsuback }

func (p *Unsuback) remaining(v Version) (int, error) {
	rem, _, err := ackSizes(v, &p.Props, p.ReasonCodes, TypeUnsuback)
	return rem, err
}

// Append implements Packet.
func (p *Unsuback) Append(dst []byte, v Version) ([]byte, error) {
	return appendAck(dst, v, TypeUnsuback, p.PacketID, &p.Props, p.ReasonCodes)
}

// ackSizes sizes a SUBACK or UNSUBACK: a packet identifier, properties at
// V5 and the reason codes, of which a 3.1.1 UNSUBACK has none.
func ackSizes(v Version, props *Properties, codes []ReasonCode, t Type) (rem, n int, err error) {
	s := sizer{n: 2}
	if v == V5 {
		n = props.size(&s)
	}
	if v == V5 || t == TypeSuback {
		s.add(len(codes))
	}
	rem, err = s.remaining(t)
	return rem, n, err
}

func appendAck(dst []byte, v Version, t Type, id uint16, props *Properties, codes []ReasonCode) ([]byte, error) {
	rem, n, err := ackSizes(v, props, codes, t)
	if err == nil {
		err = checkVersion(v)
	}
	if err != nil {
		return dst, err
	}
	b := appendUint16(begin(dst, byte(t)<<4, rem), id)
	if v == V5 {
		b = props.appendTo(b, n)
	}
	if v == V5 || t == TypeSuback {
		for _, c := range codes {
			b = append(b, byte(c))
		}
	}
	return b, nil
}

// decodeCodes decodes the body of a SUBACK or UNSUBACK into its parts,
// reusing codes.
func (d *decoder) decodeCodes(id *uint16, props *Properties, codes []ReasonCode) []ReasonCode {
	*id = d.packetID()
	codes = codes[:0]
	props.reset()
	if d.v == V311 && d.t == TypeUnsuback {
		d.end()
		return codes
	}
	if d.v == V5 {
		d.props(props, d.t)
	}
	for len(d.b) > 0 && d.err == nil {
		codes = append(codes, d.reason())
	}
	if len(codes) == 0 && d.err == nil {
		d.fail(ProtocolError, "no reason code") // one per filter, and a filter at least
	}
	return codes
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

func (p *Unsubscribe) sizes(v Version) (rem, props int, err error) {
	s := sizer{n: 2}
	if v == V5 {
		props = p.Props.size(&s)
	}
	for _, f := range p.Filters {
		s.str(f, "topic filter")
	}
	rem, err = s.remaining(TypeUnsubscribe)
	return rem, props, err
}

func (p *Unsubscribe) remaining(v Version) (int, error) {
	rem, _, err := p.sizes(v)
	return rem, err
}

// Append implements Packet.
func (p *Unsubscribe) Append(dst []byte, v Version) ([]byte, error) {
	rem, props, err := p.sizes(v)
	if err == nil {
		err = checkVersion(v)
	}
	if err != nil {
		return dst, err
	}
	b := appendUint16(begin(dst, byte(TypeUnsubscribe)<<4|fixedFlags(TypeUnsubscribe), rem), p.PacketID)
	if v == V5 {
		b = p.Props.appendTo(b, props)
	}
	for _, f := range p.Filters {
		b = appendString(b, f)
	}
	return b, nil
}

func (d *decoder) decodeUnsubscribe(p *Unsubscribe) {
	p.PacketID = d.packetID()
	if d.v == V5 {
		d.props(&p.Props, TypeUnsubscribe)
	} else {
		p.Props.reset()
	}
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
