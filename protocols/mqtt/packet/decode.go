package packet

import "fmt"

// readVarint decodes the variable byte integer at the start of b
// (3.1.1 §2.2.3, 5.0 §1.5.5). It returns the value and the number of bytes
// it takes; n is 0 if b ends inside it, and -1 if it is malformed: a fifth
// byte, or more bytes than the value needs (5.0 [MQTT-1.5.5-1]; 3.1.1 has
// the same encoding and this package holds its peers to it).
func readVarint(b []byte) (v uint32, n int) {
	for i := range min(len(b), 4) {
		c := b[i]
		v |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, -1
			}
			return v, i + 1
		}
	}
	if len(b) >= 4 {
		return 0, -1
	}
	return 0, 0
}

// decoder reads the fields of one packet body in place. The first error
// sticks: later reads return zero values, and the caller checks err once.
type decoder struct {
	b   []byte
	t   Type
	v   Version
	err *Error
}

// fail records an error, unless one is recorded already.
func (d *decoder) fail(code ReasonCode, reason string) {
	if d.err == nil {
		d.err = &Error{Code: code, Type: d.t, Version: d.v, Reason: reason}
	}
	d.b = nil
}

func (d *decoder) malformed(reason string) { d.fail(MalformedPacket, reason) }

// result returns the recorded error as an error (nil if there is none).
func (d *decoder) result() error {
	if d.err == nil {
		return nil
	}
	return d.err
}

// take consumes the next n bytes, or records that they are missing.
func (d *decoder) take(n int, what string) []byte {
	if len(d.b) < n {
		d.malformed(what + " missing")
		return make([]byte, n)
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) u8(what string) byte { return d.take(1, what)[0] }

func (d *decoder) u16(what string) uint16 {
	b := d.take(2, what)
	return uint16(b[0])<<8 | uint16(b[1])
}

func (d *decoder) u32(what string) uint32 {
	b := d.take(4, what)
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (d *decoder) varint(what string) uint32 {
	n, k := readVarint(d.b)
	switch {
	case len(d.b) == 0:
		d.malformed(what + " missing")
		return 0
	case k <= 0:
		d.malformed(what + " is not a well-formed variable byte integer")
		return 0
	}
	d.b = d.b[k:]
	return n
}

// bin reads binary data: a two-byte length and that many bytes, which
// alias the packet.
func (d *decoder) bin(what string) []byte {
	if len(d.b) < 2 {
		d.malformed(what + " length missing")
		return nil
	}
	n := int(d.b[0])<<8 | int(d.b[1])
	if len(d.b)-2 < n {
		d.malformed(what + " longer than the packet")
		return nil
	}
	s := d.b[2 : 2+n : 2+n]
	d.b = d.b[2+n:]
	return s
}

// str reads a UTF-8 encoded string and checks it (5.0 §1.5.4, 3.1.1
// §1.5.3).
func (d *decoder) str(what string) []byte {
	s := d.bin(what)
	if d.err == nil && !validUTF8(s) {
		d.malformed(what + " is not well-formed UTF-8 without U+0000")
	}
	return s
}

// packetID reads a packet identifier, which must not be 0
// (3.1.1 [MQTT-2.3.1-1], 5.0 [MQTT-2.2.1-3]).
func (d *decoder) packetID() uint16 {
	id := d.u16("packet identifier")
	if id == 0 && d.err == nil {
		d.malformed("packet identifier 0")
	}
	return id
}

// reason reads a reason code and checks that the packet type may carry it.
func (d *decoder) reason() ReasonCode {
	c := ReasonCode(d.u8("reason code"))
	if d.err == nil && !validReason(d.t, d.v, c) {
		d.malformed(fmt.Sprintf("reason code 0x%02X (%v) is not one of this packet", byte(c), c))
	}
	return c
}

// end checks that the whole body has been read.
func (d *decoder) end() {
	if len(d.b) != 0 {
		d.malformed("bytes left over at the end")
	}
}
