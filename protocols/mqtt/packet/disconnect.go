package packet

// Disconnect is DISCONNECT (3.1.1 §3.14, 5.0 §3.14). At V311 it has no
// fields; at V5 a reason code Success and no properties are left out of
// the encoding, as 5.0 §3.14.2.1 allows. At 5.0 both sides send it.
type Disconnect struct {
	ReasonCode ReasonCode
	Props      Properties
}

// Auth is AUTH (5.0 §3.15), a step of an extended authentication, with the
// fields of a Disconnect; it does not exist at 3.1.1. A reason code Success
// and no properties are left out of the encoding, as 5.0 §3.15.2.1 allows.
type Auth Disconnect

// Type implements Packet.
func (*Disconnect) Type() Type { return TypeDisconnect }

// Type implements Packet.
func (*Auth) Type() Type { return TypeAuth }

// Append implements Packet.
func (p *Disconnect) Append(dst []byte, v Version) ([]byte, error) {
	return p.append(dst, v, TypeDisconnect)
}

// Append implements Packet. It returns an error at V311.
func (p *Auth) Append(dst []byte, v Version) ([]byte, error) {
	return (*Disconnect)(p).append(dst, v, TypeAuth)
}

func (p *Disconnect) layout(v Version) (layout, error) { return p.layoutAs(v, TypeDisconnect) }
func (p *Auth) layout(v Version) (layout, error)       { return (*Disconnect)(p).layoutAs(v, TypeAuth) }

// as returns p as the packet of type t, DISCONNECT or AUTH.
func (p *Disconnect) as(t Type) Packet {
	if t == TypeAuth {
		return (*Auth)(p)
	}
	return p
}

// layoutAs sizes a DISCONNECT or an AUTH.
func (p *Disconnect) layoutAs(v Version, t Type) (l layout, err error) {
	var s sizer
	if v == V311 && t == TypeAuth {
		s.fail("AUTH does not exist in MQTT 3.1.1")
	}
	l.props = s.tail(v, p.ReasonCode, &p.Props, t)
	l.rem, err = s.done(t, v)
	return l, err
}

func (p *Disconnect) append(dst []byte, v Version, t Type) ([]byte, error) {
	l, err := p.layoutAs(v, t)
	if err != nil {
		return dst, err
	}
	return appendTail(begin(dst, byte(t)<<4, l.rem), l.rem, p.ReasonCode, &p.Props, l.props), nil
}

// decodeReason decodes the body of a DISCONNECT or an AUTH into p, and
// returns p.
func (d *decoder) decodeReason(p *Disconnect) *Disconnect {
	d.tail(&p.ReasonCode, &p.Props)
	return p
}
