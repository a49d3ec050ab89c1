package wire

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The Append functions append one whole frame to dst and return the extended
// slice. They grow dst at most once and do not allocate when it has room.
// s16 fields must be at most MaxString bytes (callers validate topics, which
// are far shorter); a longer one makes the function panic rather than write a
// corrupt frame. ACK and ERR texts are shortened to MaxString bytes instead.

type bytesOrString interface{ ~string | ~[]byte }

// appendFrameHeader grows dst for the whole frame and appends its header.
func appendFrameHeader(dst []byte, t Type, fl Flags, bodyLen int) []byte {
	if uint64(bodyLen) > math.MaxUint32 {
		panic("wire: " + t.String() + " body of " + strconv.Itoa(bodyLen) + " bytes does not fit a frame")
	}
	dst = slices.Grow(dst, HeaderLen+bodyLen)
	dst = binary.BigEndian.AppendUint32(dst, uint32(bodyLen))
	return append(dst, byte(t), byte(fl))
}

func appendS16[S bytesOrString](dst []byte, s S) []byte {
	if len(s) > MaxString {
		panic("wire: s16 field of " + strconv.Itoa(len(s)) + " bytes, the limit is 65535")
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// clipText shortens a diagnostic text to MaxString bytes on a rune boundary.
func clipText[S bytesOrString](s S) S {
	if len(s) <= MaxString {
		return s
	}
	n := MaxString
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// AppendHello appends a HELLO frame. A zero h.Version is sent as Version.
func AppendHello(dst []byte, h *Hello) []byte {
	var fl Flags
	if h.NoEcho {
		fl = FlagNoEcho
	}
	if h.WantLimits {
		fl |= FlagWantLimits
	}
	v := h.Version
	if v == 0 {
		v = Version
	}
	n := 1 + 8 + len(h.Name) + len(h.Token) + len(h.User) + len(h.Pass)
	w := h.Will
	var wfl Flags
	if w != nil {
		fl |= FlagWill
		n += 2 + len(w.Topic) + 1 + 4 + len(w.Payload)
		if w.Retain {
			wfl |= FlagRetain
		}
		if w.TTL != 0 {
			wfl |= FlagTTL
			n += 4
		}
		if len(w.Header) > 0 {
			wfl |= FlagHeader
			n += 4 + len(w.Header)
		}
	}
	dst = appendFrameHeader(dst, TypeHello, fl, n)
	dst = append(dst, v)
	dst = appendS16(dst, h.Name)
	dst = appendS16(dst, h.Token)
	dst = appendS16(dst, h.User)
	dst = appendS16(dst, h.Pass)
	if w == nil {
		return dst
	}
	dst = appendS16(dst, w.Topic)
	dst = append(dst, byte(wfl))
	dst = binary.BigEndian.AppendUint32(dst, w.DelayMS)
	if w.TTL != 0 {
		dst = binary.BigEndian.AppendUint32(dst, w.TTL)
	}
	if len(w.Header) > 0 {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(w.Header)))
		dst = append(dst, w.Header...)
	}
	return append(dst, w.Payload...)
}

// AppendWelcome appends a WELCOME frame. A zero w.Version is sent as Version.
// FlagLimits and its fields are sent iff w.MaxFrame and w.DeadPeerMS are
// both non-zero.
func AppendWelcome(dst []byte, w *Welcome) []byte {
	v := w.Version
	if v == 0 {
		v = Version
	}
	var fl Flags
	n := 1 + 4 + len(w.ServerID) + len(w.ServerVersion) + 8 + 4 + 4
	if w.MaxFrame != 0 && w.DeadPeerMS != 0 {
		fl = FlagLimits
		n += 8
	}
	dst = appendFrameHeader(dst, TypeWelcome, fl, n)
	dst = append(dst, v)
	dst = appendS16(dst, w.ServerID)
	dst = appendS16(dst, w.ServerVersion)
	dst = binary.BigEndian.AppendUint64(dst, w.SessionID)
	dst = binary.BigEndian.AppendUint32(dst, w.MaxPayload)
	dst = binary.BigEndian.AppendUint32(dst, w.HeartbeatMS)
	if fl != 0 {
		dst = binary.BigEndian.AppendUint32(dst, w.MaxFrame)
		dst = binary.BigEndian.AppendUint32(dst, w.DeadPeerMS)
	}
	return dst
}

// AppendPub appends a PUB frame. FlagReply is set iff reply != "", FlagHeader
// iff len(header) > 0 (header is a block built by AppendHeader, without its u32
// length; it is not checked here), FlagAck iff ackID != 0, FlagRetain iff retain.
func AppendPub(dst []byte, topic, reply string, header, payload []byte, retain bool, ackID uint64) []byte {
	return appendPub(dst, topic, reply, header, payload, retain, ackID, 0)
}

// AppendPubTTL is AppendPub with a time to live in milliseconds for a
// retained message (FlagTTL iff ttlMS != 0): the broker forgets the
// retained message once it expires.
func AppendPubTTL(dst []byte, topic, reply string, header, payload []byte, retain bool, ackID uint64, ttlMS uint32) []byte {
	return appendPub(dst, topic, reply, header, payload, retain, ackID, ttlMS)
}

func appendPub[S bytesOrString](dst []byte, topic, reply S, header, payload []byte, retain bool, ackID uint64, ttlMS uint32) []byte {
	var fl Flags
	n := 2 + len(topic) + len(payload)
	if retain {
		fl |= FlagRetain
	}
	if len(reply) > 0 {
		fl |= FlagReply
		n += 2 + len(reply)
	}
	if ackID != 0 {
		fl |= FlagAck
		n += 8
	}
	if ttlMS != 0 {
		fl |= FlagTTL
		n += 4
	}
	if len(header) > 0 {
		fl |= FlagHeader
		n += 4 + len(header)
	}
	dst = appendFrameHeader(dst, TypePub, fl, n)
	dst = appendS16(dst, topic)
	if len(reply) > 0 {
		dst = appendS16(dst, reply)
	}
	if ackID != 0 {
		dst = binary.BigEndian.AppendUint64(dst, ackID)
	}
	if ttlMS != 0 {
		dst = binary.BigEndian.AppendUint32(dst, ttlMS)
	}
	if len(header) > 0 {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(header)))
		dst = append(dst, header...)
	}
	return append(dst, payload...)
}

// AppendMsg appends a MSG frame. Of flags only FlagRetain, FlagRetainFlag
// and FlagNoResponders are used; FlagReply and FlagHeader are set from
// len(reply) and len(header).
func AppendMsg(dst []byte, flags Flags, sid uint32, topic, reply, header, payload []byte) []byte {
	return AppendMsgTTL(dst, flags, sid, 0, topic, reply, header, payload)
}

// AppendMsgTTL is AppendMsg with the message's remaining time to live in
// milliseconds (FlagMsgTTL iff ttlMS != 0).
func AppendMsgTTL(dst []byte, flags Flags, sid, ttlMS uint32, topic, reply, header, payload []byte) []byte {
	fl := flags & (FlagRetain | FlagRetainFlag | FlagNoResponders)
	n := 4 + 2 + len(topic) + len(payload)
	if len(reply) > 0 {
		fl |= FlagReply
		n += 2 + len(reply)
	}
	if ttlMS != 0 {
		fl |= FlagMsgTTL
		n += 4
	}
	if len(header) > 0 {
		fl |= FlagHeader
		n += 4 + len(header)
	}
	dst = appendFrameHeader(dst, TypeMsg, fl, n)
	dst = binary.BigEndian.AppendUint32(dst, sid)
	dst = appendS16(dst, topic)
	if len(reply) > 0 {
		dst = appendS16(dst, reply)
	}
	if ttlMS != 0 {
		dst = binary.BigEndian.AppendUint32(dst, ttlMS)
	}
	if len(header) > 0 {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(header)))
		dst = append(dst, header...)
	}
	return append(dst, payload...)
}

// AppendSub appends a SUB frame. An empty queue means no queue group.
func AppendSub(dst []byte, sid uint32, filter, queue string) []byte {
	return appendSub(dst, 0, sid, filter, queue)
}

// SubFlags returns the flags of a SUB with these options.
func SubFlags(noLocal bool, rh RetainHandling) Flags {
	fl := Flags(rh&3) << 1
	if noLocal {
		fl |= FlagNoLocal
	}
	return fl
}

// AppendSubFlags is AppendSub with flags (SubFlags) for no-local and retain
// handling.
func AppendSubFlags(dst []byte, fl Flags, sid uint32, filter, queue string) []byte {
	return appendSub(dst, fl, sid, filter, queue)
}

func appendSub[S bytesOrString](dst []byte, fl Flags, sid uint32, filter, queue S) []byte {
	dst = appendFrameHeader(dst, TypeSub, fl&(FlagNoLocal|FlagRetainHandling), 4+2+len(filter)+2+len(queue))
	dst = binary.BigEndian.AppendUint32(dst, sid)
	dst = appendS16(dst, filter)
	return appendS16(dst, queue)
}

// AppendUnsub appends an UNSUB frame: max 0 removes the subscription now, N
// after N more messages.
func AppendUnsub(dst []byte, sid, max uint32) []byte {
	dst = appendFrameHeader(dst, TypeUnsub, 0, 8)
	dst = binary.BigEndian.AppendUint32(dst, sid)
	return binary.BigEndian.AppendUint32(dst, max)
}

// AppendAck appends an ACK frame.
func AppendAck(dst []byte, ackID uint64, code Code, text string) []byte {
	return appendAck(dst, ackID, code, text)
}

func appendAck[S bytesOrString](dst []byte, ackID uint64, code Code, text S) []byte {
	text = clipText(text)
	dst = appendFrameHeader(dst, TypeAck, 0, 8+2+2+len(text))
	dst = binary.BigEndian.AppendUint64(dst, ackID)
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return appendS16(dst, text)
}

// AppendErr appends an ERR frame; sid 0 means the error is not about a
// subscription.
func AppendErr(dst []byte, fatal bool, code Code, sid uint32, text string) []byte {
	return appendErr(dst, fatal, code, sid, text)
}

func appendErr[S bytesOrString](dst []byte, fatal bool, code Code, sid uint32, text S) []byte {
	var fl Flags
	if fatal {
		fl = FlagFatal
	}
	text = clipText(text)
	dst = appendFrameHeader(dst, TypeErr, fl, 2+4+2+len(text))
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	dst = binary.BigEndian.AppendUint32(dst, sid)
	return appendS16(dst, text)
}

// AppendPing appends a PING frame.
func AppendPing(dst []byte) []byte { return appendFrameHeader(dst, TypePing, 0, 0) }

// AppendPong appends a PONG frame.
func AppendPong(dst []byte) []byte { return appendFrameHeader(dst, TypePong, 0, 0) }

// AppendBye appends a BYE frame.
func AppendBye(dst []byte) []byte { return appendFrameHeader(dst, TypeBye, 0, 0) }

// AppendFrame re-encodes f, typically a decoded frame: for any frame Decode
// accepts, AppendFrame gives back the same bytes. Optional fields follow the
// rules of the type's Append function (for HELLO, f.Hello.NoEcho gives the
// flag). A frame of unknown type appends nothing.
func AppendFrame(dst []byte, f *Frame) []byte {
	switch f.Type {
	case TypeHello:
		return AppendHello(dst, &f.Hello)
	case TypeWelcome:
		return AppendWelcome(dst, &f.Welcome)
	case TypePub:
		return appendPub(dst, f.Topic, f.Reply, f.Header, f.Payload, f.Flags.Has(FlagRetain), f.AckID, f.TTL)
	case TypeSub:
		return appendSub(dst, f.Flags, f.SID, f.Topic, f.Queue)
	case TypeUnsub:
		return AppendUnsub(dst, f.SID, f.Max)
	case TypeMsg:
		return AppendMsgTTL(dst, f.Flags, f.SID, f.TTL, f.Topic, f.Reply, f.Header, f.Payload)
	case TypeAck:
		return appendAck(dst, f.AckID, f.Code, f.Text)
	case TypePing:
		return AppendPing(dst)
	case TypePong:
		return AppendPong(dst)
	case TypeErr:
		return appendErr(dst, f.Flags.Has(FlagFatal), f.Code, f.SID, f.Text)
	case TypeBye:
		return AppendBye(dst)
	}
	return dst
}
