package packet

import (
	"fmt"
	"io"
)

// DefaultMaxPacketSize is the Reader's limit when it is given none: a
// whole packet of 1 MiB, fixed header included.
const DefaultMaxPacketSize = 1 << 20

const (
	// initialBuf is the size of a new Reader's buffer, which it keeps
	// while packets fit in it.
	initialBuf = 4 << 10
	// quietPackets is how many packets in a row that fit in the initial
	// buffer a Reader reads before it lets a larger buffer go.
	quietPackets = 16
	// maxEmptyReads is how many (0, nil) reads in a row are taken for a
	// broken io.Reader.
	maxEmptyReads = 100
)

// Reader reads MQTT control packets from a byte stream. It reads into one
// buffer, as much as the stream has, and decodes each packet in place: the
// byte slices of a returned packet (a topic, a payload, a client
// identifier, a property) alias that buffer and are valid only until the
// next ReadPacket. Copy what must live longer.
//
// The packets themselves are the Reader's too: ReadPacket returns the same
// *Publish (the same *Connect, ...) each time, overwritten, so that
// reading allocates nothing in steady state.
//
// Before a CONNECT has been read (and unless SetVersion was called, as a
// client does) the only packet a Reader accepts is CONNECT; the level
// it declares becomes the Reader's Version, which decides how every
// later packet is decoded.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	src     io.Reader
	buf     []byte // buf[r:w] is read from src and not decoded yet
	r, w    int
	small   []byte // the initial buffer, kept for when buf has grown
	quiet   int    // packets in a row that fitted in small
	max     int
	version Version
	err     error // a framing error: the stream cannot be read further
	readErr error // an error from src, returned once the buffer is used up

	connect   Connect
	will      Will
	connack   Connack
	publish   Publish
	acks      [4]Ack // PUBACK, PUBREC, PUBREL, PUBCOMP
	subscribe Subscribe
	subacks   [2]Suback // SUBACK, UNSUBACK
	unsub     Unsubscribe
	ends      [2]Disconnect // DISCONNECT, AUTH
}

// NewReader returns a Reader of packets from src that refuses a packet
// whose whole size is more than maxPacketSize bytes (<= 0 means
// DefaultMaxPacketSize). A 5.0 server announces the same number as the
// Maximum Packet Size of its CONNACK.
func NewReader(src io.Reader, maxPacketSize int) *Reader {
	b := make([]byte, initialBuf)
	r := &Reader{src: src, buf: b, small: b}
	r.SetMaxPacketSize(maxPacketSize)
	return r
}

// SetMaxPacketSize changes the largest packet accepted from the next one
// on (<= 0 means DefaultMaxPacketSize). A server may read the CONNECT of
// an unknown client with a small limit and raise it once it has accepted
// the client.
func (r *Reader) SetMaxPacketSize(n int) {
	if n <= 0 {
		n = DefaultMaxPacketSize
	}
	r.max = n
}

// Version returns the protocol level packets are decoded at: the level of
// the last CONNECT read, or what SetVersion set; 0 before either.
func (r *Reader) Version() Version { return r.version }

// SetVersion sets the protocol level of the packets to come, for a client,
// which learns it from the CONNECT it sent rather than from one it reads.
func (r *Reader) SetVersion(v Version) { r.version = v }

// Buffered returns the number of bytes read from the stream and not yet
// decoded.
func (r *Reader) Buffered() int { return r.w - r.r }

// ReadPacket reads and decodes the next packet. The packet and its byte
// slices are valid until the next call.
//
// It returns io.EOF when the stream ends between packets and
// io.ErrUnexpectedEOF when it ends inside one. Other errors from the stream
// are returned once the buffered bytes are used up, and the call can be
// retried (after a read deadline, say) without losing data.
//
// A packet the specification does not allow gives an *Error whose Code is
// the reason code to send: ErrTooLarge for one above the limit, detected
// from its fixed header before its body is read or any room is made for
// it, ErrMalformed for an ill-formed remaining length; after either of
// these the stream cannot be followed and every later call returns the
// same error. Other errors consume the packet; the caller is to close the
// connection anyway (after a DISCONNECT at 5.0, or a CONNACK refusal for
// a CONNECT).
func (r *Reader) ReadPacket() (Packet, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.settle()
	hlen, rem, err := r.header()
	if err != nil {
		return nil, err
	}
	total := hlen + rem
	if total > r.max {
		r.err = &Error{Code: PacketTooLarge, Type: Type(r.buf[r.r] >> 4), Version: r.version,
			Reason: fmt.Sprintf("%d bytes, more than %d", total, r.max)}
		return nil, r.err
	}
	if err := r.fill(total); err != nil {
		return nil, err
	}
	first := r.buf[r.r]
	body := r.buf[r.r+hlen : r.r+total : r.r+total]
	r.r += total
	if total <= len(r.small) {
		r.quiet++
	} else {
		r.quiet = 0
	}
	return r.decode(first, body)
}

// header reads the fixed header of the next packet and returns its length
// and the remaining length (3.1.1 §2.2, 5.0 §2.1).
func (r *Reader) header() (hlen, rem int, err error) {
	for {
		if avail := r.buf[r.r:r.w]; len(avail) >= 2 {
			n, k := readVarint(avail[1:])
			if k < 0 {
				r.err = &Error{Code: MalformedPacket, Type: Type(avail[0] >> 4), Version: r.version,
					Reason: "remaining length is not a well-formed variable byte integer"}
				return 0, 0, r.err
			}
			if k > 0 {
				return 1 + k, int(n), nil
			}
		}
		if err := r.fill(r.w - r.r + 1); err != nil {
			return 0, 0, err
		}
	}
}

// fill reads until n bytes are buffered.
func (r *Reader) fill(n int) error {
	empty := 0
	for r.w-r.r < n {
		if err := r.readErr; err != nil {
			r.readErr = nil
			if err == io.EOF && r.w > r.r {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if r.w == len(r.buf) || r.r+n > len(r.buf) {
			r.makeRoom(n)
		}
		m, err := r.src.Read(r.buf[r.w:])
		if m < 0 || m > len(r.buf)-r.w {
			m, err = 0, fmt.Errorf("mqtt: %T.Read returned %d", r.src, m)
		}
		r.w += m
		r.readErr = err
		if m > 0 || err != nil {
			empty = 0
		} else if empty++; empty >= maxEmptyReads {
			r.readErr = io.ErrNoProgress
		}
	}
	return nil
}

// makeRoom makes room for reading toward n buffered bytes: it moves the
// buffered bytes to the front, and if the buffer is full grows it, at most
// doubling it, so that a packet that declares a large size and never comes
// costs no more memory than the bytes that did come.
func (r *Reader) makeRoom(n int) {
	if r.r > 0 {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	if r.w == len(r.buf) {
		nb := make([]byte, min(n, 2*len(r.buf)))
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
}

// settle runs before each packet: the bytes of the previous packet may be
// overwritten now, and a grown buffer is let go once quietPackets packets
// in a row fitted in the initial one.
func (r *Reader) settle() {
	if r.r == r.w {
		r.r, r.w = 0, 0
	}
	if len(r.buf) > len(r.small) && r.quiet >= quietPackets && r.w-r.r <= len(r.small) {
		r.w = copy(r.small, r.buf[r.r:r.w])
		r.r = 0
		r.buf = r.small
	}
}

// decode decodes a packet whose first byte is first.
func (r *Reader) decode(first byte, body []byte) (Packet, error) {
	t, flags := Type(first>>4), first&0x0f
	d := decoder{b: body, t: t, v: r.version}
	switch {
	case t == 0 || t == TypeAuth && r.version == V311:
		d.malformed("reserved packet type") // 3.1.1 §2.2.1, 5.0 §2.1.2
	case t != TypePublish && flags != fixedFlags(t):
		d.malformed("reserved flags of the fixed header") // 3.1.1 [MQTT-2.2.2-2], 5.0 [MQTT-2.1.3-1]
	case r.version == 0 && t != TypeConnect:
		d.fail(ProtocolError, "packet before CONNECT") // 3.1.1 [MQTT-3.1.0-1], 5.0 [MQTT-3.1.0-1]
	}
	if d.err != nil {
		return nil, d.err
	}
	var p Packet
	switch t {
	case TypeConnect:
		d.decodeConnect(&r.connect, &r.will)
		if d.err == nil {
			r.version = d.v
		}
		p = &r.connect
	case TypeConnack:
		d.decodeConnack(&r.connack)
		p = &r.connack
	case TypePublish:
		d.decodePublish(&r.publish, flags)
		p = &r.publish
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		p = d.decodeAck(&r.acks[t-TypePuback]).as(t)
	case TypeSubscribe:
		d.decodeSubscribe(&r.subscribe)
		p = &r.subscribe
	case TypeSuback, TypeUnsuback:
		p = d.decodeCodes(&r.subacks[(t-TypeSuback)/2]).as(t)
	case TypeUnsubscribe:
		d.decodeUnsubscribe(&r.unsub)
		p = &r.unsub
	case TypePingreq, TypePingresp:
		d.end()
		p = &Pingreq{}
		if t == TypePingresp {
			p = &Pingresp{}
		}
	case TypeDisconnect, TypeAuth:
		p = d.decodeReason(&r.ends[t-TypeDisconnect]).as(t)
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}
