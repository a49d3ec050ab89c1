package packet

// Disconnect is DISCONNECT (3.1.1 §3.14, 5.0 §3.14). At V311 it has no
// fields; at V5 a reason code Success and no properties are left out of
// the encoding, as 5.0 §3.14.2.1 allows. At 5.0 both sides send it.
type Disconnect struct {
	ReasonCode ReasonCode
	Props      Properties
}

// Auth is AUTH (5.0 §3.15), a step of an extended authentication; it does
// not exist at 3.1.1. A reason code Success and no properties are left out
// of the encoding, as 5.0 §3.15.2.1 allows.
type Auth struct {
	ReasonCode ReasonCode
	Props      Properties
}

// Type implements Packet.
func (*Disconnect) Type() Type { return TypeDisconnect }

// Type implements Packet.
func (*Auth) Type() Type { return TypeAuth }

func (p *Disconnect) remaining(v Version) (int, error) {
	rem, _, err := reasonSizes(v, p.ReasonCode, &p.Props, TypeDisconnect)
	return rem, err
}

func (p *Auth) remaining(v Version) (int, error) {
	rem, _, err := reasonSizes(v, p.ReasonCode, &p.Props, TypeAuth)
	return rem, err
}

// Append implements Packet.
func (p *Disconnect) Append(dst []byte, v Version) ([]byte, error) {
	return appendReason(dst, v, TypeDisconnect, p.ReasonCode, &p.Props)
}

// Append implements Packet. It returns an error at V311.
func (p *Auth) Append(dst []byte, v Version) ([]byte, error) {
	return appendReason(dst, v, TypeAuth, p.ReasonCode, &p.Props)
}

// reasonSizes sizes a DISCONNECT or an AUTH: at V5 a reason code and
// properties, each left out when it is the default and nothing follows.
func reasonSizes(v Version, c ReasonCode, props *Properties, t Type) (rem, n int, err error) {
	var s sizer
	switch {
	case v == V311 && t == TypeAuth:
		s.fail("AUTH does not exist in MQTT 3.1.1")
	case v == V5 && !props.Empty():
		n = props.size(&s)
		s.add(1)
	case v == V5 && c != Success:
		s.add(1)
	}
	rem, err = s.remaining(t)
	return rem, n, err
}

func appendReason(dst []byte, v Version, t Type, c ReasonCode, props *Properties) ([]byte, error) {
	rem, n, err := reasonSizes(v, c, props, t)
	if err == nil {
		err = checkVersion(v)
	}
	if err != nil {
		return dst, err
	}
	b := begin(dst, byte(t)<<4, rem)
	if rem > 0 {
		b = append(b, byte(c))
	}
	if rem > 1 {
		b = props.appendTo(b, n)
	}
	return b, nil
}

// decodeReason decodes the body of a DISCONNECT or an AUTH.
func (d *decoder) decodeReason(c *ReasonCode, props *Properties) {
	*c = Success
	props.reset()
	if d.v == V5 && len(d.b) > 0 {
		*c = d.reason()
		if len(d.b) > 0 {
			d.props(props, d.t)
		}
	}
	d.end()
}
