package packet

import "bytes"

// props reads a property length and the properties after it into p
// (5.0 §2.2.2), checking them against the packet type t, or the will's
// properties for willProps. Below 5.0 there are none: it empties p. It reports a property outside t's set, of an
// unknown identifier or cut short as a malformed packet (5.0 §2.2.2.2),
// and a single-valued property given twice or a value the specification
// forbids as a protocol error.
func (d *decoder) props(p *Properties, t Type) {
	p.reset()
	if d.v != V5 {
		return
	}
	n := d.varint("property length")
	if d.err != nil {
		return
	}
	if uint32(len(d.b)) < n {
		d.malformed("property length longer than the packet")
		return
	}
	if n == 0 {
		return
	}
	sub := decoder{b: d.b[:n:n], t: d.t, v: d.v}
	d.b = d.b[n:]
	allowed := allowedProps(t)
	for len(sub.b) > 0 && sub.err == nil {
		// Identifiers are variable byte integers, all one byte long in
		// 5.0: a first byte with the high bit set is no known identifier.
		id := PropID(sub.b[0])
		sub.b = sub.b[1:]
		if id >= 64 || allowed&(1<<id) == 0 {
			sub.malformed(id.String() + " is not allowed here")
			break
		}
		switch kind := kindOf(id); kind {
		case kindVarint:
			v := sub.varint(id.String())
			switch {
			case sub.err != nil:
			case v == 0:
				sub.fail(ProtocolError, "Subscription Identifier 0") // 5.0 §3.3.2.3.8, §3.8.2.1.2
			case t == TypeSubscribe && len(p.SubscriptionIDs) > 0:
				sub.fail(ProtocolError, "Subscription Identifier more than once") // 5.0 §3.8.2.1.2
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, v)
		case kindPair:
			k := sub.str("user property name")
			v := sub.str("user property value")
			p.User = append(p.User, UserProperty{Key: k, Value: v})
		default:
			if p.present&(1<<id) != 0 {
				sub.fail(ProtocolError, id.String()+" more than once")
				break
			}
			p.present |= 1 << id
			f := p.field(id)
			switch kind {
			case kindByte:
				*f.b = sub.u8(id.String())
			case kindUint16:
				*f.u16 = sub.u16(id.String())
			case kindUint32:
				*f.u32 = sub.u32(id.String())
			case kindString:
				*f.s = sub.str(id.String())
			case kindBinary:
				*f.s = sub.bin(id.String())
			}
			if sub.err == nil {
				sub.checkProp(p, id)
			}
		}
	}
	if sub.err != nil {
		d.fail(sub.err.Code, sub.err.Reason)
		return
	}
	if p.Has(PropAuthData) && !p.Has(PropAuthMethod) {
		// 5.0 §3.1.2.11.10, §3.2.2.3.18, §3.15.2.2.4.
		d.fail(ProtocolError, "Authentication Data without Authentication Method")
	}
}

// checkProp checks the value of a single-valued property just read.
func (d *decoder) checkProp(p *Properties, id PropID) {
	switch id {
	case PropPayloadFormat, PropRequestProblemInfo, PropRequestResponseInfo, PropMaximumQoS,
		PropRetainAvailable, PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable:
		// 5.0 §3.1.2.11.6, §3.1.2.11.7, §3.2.2.3.4, §3.2.2.3.5, §3.2.2.3.11-13,
		// §3.3.2.3.2: the value is 0 or 1.
		if *p.field(id).b > 1 {
			d.fail(ProtocolError, id.String()+" is neither 0 nor 1")
		}
	case PropReceiveMaximum, PropTopicAlias:
		// 5.0 §3.1.2.11.3, §3.2.2.3.3, §3.3.2.3.4.
		if *p.field(id).u16 == 0 {
			d.fail(ProtocolError, id.String()+" 0")
		}
	case PropMaximumPacketSize:
		// 5.0 §3.1.2.11.4, §3.2.2.3.6.
		if p.MaximumPacketSize == 0 {
			d.fail(ProtocolError, id.String()+" 0")
		}
	case PropResponseTopic:
		// 5.0 [MQTT-3.3.2-14]: a topic name, so no wildcards.
		if bytes.IndexAny(p.ResponseTopic, "+#") >= 0 {
			d.fail(ProtocolError, "Response Topic contains a wildcard")
		}
	}
}
