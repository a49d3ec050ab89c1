package wire

import (
	"encoding/binary"
	"fmt"
)

// Decode decodes the one frame at the start of p into f and returns the number
// of bytes it occupies (header and body). Trailing bytes of p after that frame
// are not looked at.
//
// It returns ErrShort (unwrapped) if p holds less than a whole frame, and
// ErrFrameTooLarge (unwrapped) if the declared body length is over maxFrame;
// that check comes before anything else is looked at. A maxFrame <= 0 means
// DefaultMaxFrame. On any error f holds no useful data and the count is 0.
//
// The byte slices of f alias p. Decode allocates only for the strings of
// HELLO and WELCOME.
func Decode(p []byte, f *Frame, maxFrame int) (int, error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if len(p) < HeaderLen {
		return 0, ErrShort
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(maxFrame) {
		return 0, ErrFrameTooLarge
	}
	if uint64(len(p)-HeaderLen) < uint64(n) {
		return 0, ErrShort
	}
	total := HeaderLen + int(n)
	if err := decodeBody(Type(p[4]), Flags(p[5]), p[HeaderLen:total:total], f); err != nil {
		return 0, err
	}
	return total, nil
}

// decodeBody decodes a complete body of type t.
func decodeBody(t Type, fl Flags, body []byte, f *Frame) error {
	*f = Frame{Type: t, Flags: fl}
	if t < TypeHello || t > TypeBye {
		return fmt.Errorf("%w: 0x%02x", ErrUnknownType, uint8(t))
	}
	if bad := fl &^ validFlags[t]; bad != 0 {
		return fmt.Errorf("%w: 0x%02x on %v", ErrBadFlags, uint8(bad), t)
	}
	d := decoder{b: body}
	switch t {
	case TypeHello:
		h := &f.Hello
		h.Version = d.u8()
		h.NoEcho = fl.Has(FlagNoEcho)
		h.Name = string(d.s16())
		h.Token = string(d.s16())
		h.User = string(d.s16())
		h.Pass = string(d.s16())
		h.WantLimits = fl.Has(FlagWantLimits)
		if d.ok() && h.Version == 0 {
			return fmt.Errorf("%w: HELLO version 0", ErrMalformed)
		}
		if fl.Has(FlagWill) {
			return decodeWill(&d, h)
		}
	case TypeWelcome:
		w := &f.Welcome
		w.Version = d.u8()
		w.ServerID = string(d.s16())
		w.ServerVersion = string(d.s16())
		w.SessionID = d.u64()
		w.MaxPayload = d.u32()
		w.HeartbeatMS = d.u32()
		if d.ok() && w.Version == 0 {
			return fmt.Errorf("%w: WELCOME version 0", ErrMalformed)
		}
		if fl.Has(FlagLimits) {
			w.MaxFrame = d.u32()
			w.DeadPeerMS = d.u32()
			if d.ok() && (w.MaxFrame == 0 || w.DeadPeerMS == 0) {
				return fmt.Errorf("%w: WELCOME limits flag with a zero max_frame or dead_peer_ms", ErrMalformed)
			}
		}
	case TypePub, TypeMsg:
		return decodeMessage(t, fl, &d, f)
	case TypeSub:
		if fl.RetainHandling() == retainInvalid {
			return fmt.Errorf("%w: SUB: retain handling 3", ErrMalformed)
		}
		f.SID = d.u32()
		f.Topic = d.s16()
		f.Queue = d.s16()
	case TypeUnsub:
		f.SID = d.u32()
		f.Max = d.u32()
	case TypeAck:
		f.AckID = d.u64()
		f.Code = Code(d.u16())
		f.Text = d.s16()
	case TypePing, TypePong, TypeBye:
	case TypeErr:
		f.Code = Code(d.u16())
		f.SID = d.u32()
		f.Text = d.s16()
	}
	return d.finish(t)
}

// decodeMessage decodes the body of a PUB or a MSG.
func decodeMessage(t Type, fl Flags, d *decoder, f *Frame) error {
	if t == TypeMsg {
		f.SID = d.u32()
	}
	f.Topic = d.s16()
	if fl.Has(FlagReply) {
		f.Reply = d.s16()
		if d.ok() && len(f.Reply) == 0 {
			return fmt.Errorf("%w: %v: reply flag with an empty reply topic", ErrMalformed, t)
		}
	}
	if t == TypePub && fl.Has(FlagAck) {
		f.AckID = d.u64()
		if d.ok() && f.AckID == 0 {
			return fmt.Errorf("%w: PUB: ack flag with ack id 0", ErrMalformed)
		}
	}
	if (t == TypePub && fl.Has(FlagTTL)) || (t == TypeMsg && fl.Has(FlagMsgTTL)) {
		if f.TTL = d.ttl(t); d.failed {
			return d.err
		}
	}
	if fl.Has(FlagHeader) {
		if f.Header = d.header(t); d.failed {
			return d.err
		}
	}
	if !d.ok() {
		return d.finish(t)
	}
	f.Payload = d.b
	return nil
}

// decodeWill decodes the will fields at the end of a HELLO body:
// topic s16, flags u8, delay_ms u32, [ttl_ms u32], [header], payload (the
// rest).
func decodeWill(d *decoder, h *Hello) error {
	w := &Will{Topic: string(d.s16())}
	fl := Flags(d.u8())
	w.DelayMS = d.u32()
	if !d.ok() {
		return d.finish(TypeHello)
	}
	if bad := fl &^ willFlags; bad != 0 {
		return fmt.Errorf("%w: 0x%02x on the will of a HELLO", ErrBadFlags, uint8(bad))
	}
	w.Retain = fl.Has(FlagRetain)
	if fl.Has(FlagTTL) {
		if w.TTL = d.ttl(TypeHello); d.failed {
			return d.err
		}
	}
	if fl.Has(FlagHeader) {
		if w.Header = d.header(TypeHello); d.failed {
			return d.err
		}
	}
	w.Payload = d.b
	h.Will = w
	return nil
}

// ttl reads a non-zero u32 time to live; on a bad one d.err says why.
func (d *decoder) ttl(t Type) uint32 {
	v := d.u32()
	switch {
	case !d.ok():
		d.err = d.finish(t)
	case v == 0:
		d.failed, d.err = true, fmt.Errorf("%w: %v: ttl flag with ttl 0", ErrMalformed, t)
	}
	return v
}

// header reads a u32-length header block and checks it; on a bad one
// d.err says why.
func (d *decoder) header(t Type) []byte {
	n := d.u32()
	if !d.ok() {
		d.err = d.finish(t)
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.failed, d.err = true, fmt.Errorf("%w: %v: block of %d bytes, %d left in the body", ErrHeader, t, n, len(d.b))
		return nil
	}
	h := d.b[:n:n]
	d.b = d.b[n:]
	if err := checkHeader(h); err != nil {
		d.failed, d.err = true, err
		return nil
	}
	return h
}

// decoder reads fields from a body. The first read past the end marks it
// failed; later reads return zero values.
type decoder struct {
	b      []byte
	failed bool
	field  string // what was being read when it failed
	err    error  // set by ttl and header when they fail
}

func (d *decoder) ok() bool { return !d.failed }

func (d *decoder) fail(field string) {
	if !d.failed {
		d.failed, d.field = true, field
	}
	d.b = nil
}

func (d *decoder) u8() uint8 {
	if len(d.b) < 1 {
		d.fail("u8")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u16() uint16 {
	if len(d.b) < 2 {
		d.fail("u16")
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *decoder) u32() uint32 {
	if len(d.b) < 4 {
		d.fail("u32")
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail("u64")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// s16 returns the bytes of a u16-length-prefixed field, capacity-limited so
// that appending to it cannot overwrite the next field.
func (d *decoder) s16() []byte {
	if len(d.b) < 2 {
		d.fail("s16 length")
		return nil
	}
	n := int(binary.BigEndian.Uint16(d.b))
	if len(d.b)-2 < n {
		d.fail("s16 bytes")
		return nil
	}
	v := d.b[2 : 2+n : 2+n]
	d.b = d.b[2+n:]
	return v
}

// finish reports a read past the end or bytes left after the last field.
func (d *decoder) finish(t Type) error {
	if d.failed {
		return fmt.Errorf("%w: %v: body ends inside a field (%s)", ErrMalformed, t, d.field)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %v: %d trailing bytes", ErrMalformed, t, len(d.b))
	}
	return nil
}
