package wire

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"time"
)

// Version is the protocol version this package speaks, sent in HELLO and WELCOME.
const Version = 1

// HeaderLen is the size of the frame header: u32 body length, u8 type, u8 flags.
const HeaderLen = 6

// DefaultMaxFrame is a body-length limit that fits a 1 MiB payload plus
// 64 KiB for topics and headers.
const DefaultMaxFrame = 1<<20 + 64<<10

// MsgOverhead is how much larger than the PUB that carried it a MSG can
// be: a MSG adds the 4-byte sid and drops only the PUB's optional ack id.
// A client reads frames of up to ReadLimit(max_frame) so that the delivery
// of every PUB the server accepted fits.
const MsgOverhead = 4

// ReadLimit is the frame body limit a client applies to what a server
// announcing maxFrame sends.
func ReadLimit(maxFrame uint32) int { return int(maxFrame) + MsgOverhead }

// MaxString is the longest value an s16 field (u16 length + bytes) can hold.
const MaxString = 1<<16 - 1

// Errors returned by Decode, Reader.Next and ParseHeader. All but ErrShort and
// ErrFrameTooLarge are wrapped with detail; test them with errors.Is.
var (
	// ErrShort: the buffer holds less than one whole frame. Never wrapped.
	ErrShort = errors.New("wire: short buffer")
	// ErrFrameTooLarge: the declared body length is over the limit. Never wrapped.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrMalformed: a body does not match its type's layout.
	ErrMalformed = errors.New("wire: malformed frame")
	// ErrUnknownType: the type byte is not a frame type of this version.
	ErrUnknownType = errors.New("wire: unknown frame type")
	// ErrBadFlags: a flag bit is set that the frame type does not define.
	ErrBadFlags = errors.New("wire: bad flags")
	// ErrHeader: a message header block is malformed.
	ErrHeader = errors.New("wire: malformed header block")
)

// Type is a frame type.
type Type uint8

// Frame types.
const (
	TypeHello   Type = 0x01 // client -> server, first frame
	TypeWelcome Type = 0x02 // server -> client, answer to HELLO
	TypePub     Type = 0x03 // client -> server, publish
	TypeSub     Type = 0x04 // client -> server, subscribe
	TypeUnsub   Type = 0x05 // client -> server, unsubscribe
	TypeMsg     Type = 0x06 // server -> client, delivery
	TypeAck     Type = 0x07 // server -> client, publish acknowledgement
	TypePing    Type = 0x08 // either direction
	TypePong    Type = 0x09 // either direction
	TypeErr     Type = 0x0A // server -> client, error
	TypeBye     Type = 0x0B // client -> server, a clean goodbye: the will is discarded
)

var typeNames = [...]string{
	TypeHello: "HELLO", TypeWelcome: "WELCOME", TypePub: "PUB", TypeSub: "SUB",
	TypeUnsub: "UNSUB", TypeMsg: "MSG", TypeAck: "ACK", TypePing: "PING",
	TypePong: "PONG", TypeErr: "ERR", TypeBye: "BYE",
}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "Type(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}

// Flags is the flag byte of a frame. The meaning of a bit depends on the type.
type Flags uint8

// Frame flags. Bits a type does not list here are a protocol error.
const (
	FlagNoEcho         Flags = 0x01 // HELLO: do not deliver my own publishes to me
	FlagWill           Flags = 0x02 // HELLO: a will message follows the credentials
	FlagWantLimits     Flags = 0x04 // HELLO: the client reads WELCOME's FlagLimits fields
	FlagLimits         Flags = 0x01 // WELCOME: max_frame and dead_peer_ms follow heartbeat_ms
	FlagRetain         Flags = 0x01 // PUB, will: retain; MSG: delivered from the retained store
	FlagReply          Flags = 0x02 // PUB, MSG: a reply topic follows the topic
	FlagHeader         Flags = 0x04 // PUB, MSG, will: a header block precedes the payload
	FlagAck            Flags = 0x08 // PUB: an ack id follows; the server answers with ACK
	FlagRetainFlag     Flags = 0x08 // MSG: the message was published with RETAIN
	FlagNoResponders   Flags = 0x10 // MSG: status, the request had no subscriber
	FlagTTL            Flags = 0x10 // PUB, will: a time to live (u32 ms) follows
	FlagMsgTTL         Flags = 0x20 // MSG: the message's remaining time to live (u32 ms) follows
	FlagFatal          Flags = 0x01 // ERR: the server closes the connection after it
	FlagNoLocal        Flags = 0x01 // SUB: not my own publishes, on this subscription
	FlagRetainHandling Flags = 0x06 // SUB: two bits, a RetainHandling
)

// RetainHandling says when a new subscription receives the retained
// messages it matches; it is carried in the SUB's FlagRetainHandling bits.
type RetainHandling uint8

// Retain handlings.
const (
	RetainSend    RetainHandling = 0 // on subscribe (the default)
	RetainIfNew   RetainHandling = 1 // only if the connection has no subscription to the same filter and queue
	RetainNever   RetainHandling = 2 // never
	retainInvalid RetainHandling = 3
)

// RetainHandling returns the retain handling of a SUB's flags.
func (f Flags) RetainHandling() RetainHandling { return RetainHandling(f&FlagRetainHandling) >> 1 }

// Has reports whether all bits of f2 are set in f.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// validFlags holds the flag bits each type defines.
var validFlags = [...]Flags{
	TypeHello:   FlagNoEcho | FlagWill | FlagWantLimits,
	TypeWelcome: FlagLimits,
	TypePub:     FlagRetain | FlagReply | FlagHeader | FlagAck | FlagTTL,
	TypeSub:     FlagNoLocal | FlagRetainHandling,
	TypeMsg:     FlagRetain | FlagReply | FlagHeader | FlagRetainFlag | FlagNoResponders | FlagMsgTTL,
	TypeErr:     FlagFatal,
	TypeBye:     0,
}

// willFlags are the flag bits a will message may carry.
const willFlags = FlagRetain | FlagHeader | FlagTTL

// Code is an error or status code carried by ACK and ERR.
type Code uint16

// Codes. docs/protocol.md says which are usually fatal.
const (
	CodeOK               Code = 0
	CodeProtocol         Code = 1
	CodeUnknownFrame     Code = 2
	CodeFrameTooLarge    Code = 3
	CodePayloadTooLarge  Code = 4
	CodeBadTopic         Code = 5
	CodeTooManySubs      Code = 6
	CodeMaxConnections   Code = 7
	CodeAuth             Code = 8
	CodeSlowConsumer     Code = 9
	CodeHandshakeTimeout Code = 10
	CodeStale            Code = 11
	CodeShutdown         Code = 12
	CodeVersion          Code = 13
	CodeBadSubscription  Code = 14
	CodeRetainedLimit    Code = 15
	CodeStore            Code = 16
	CodeInternal         Code = 17
	CodePermission       Code = 18
)

var codeNames = [...]string{
	"OK", "PROTOCOL", "UNKNOWN_FRAME", "FRAME_TOO_LARGE", "PAYLOAD_TOO_LARGE",
	"BAD_TOPIC", "TOO_MANY_SUBS", "MAX_CONNECTIONS", "AUTH", "SLOW_CONSUMER",
	"HANDSHAKE_TIMEOUT", "STALE", "SHUTDOWN", "VERSION", "BAD_SUBSCRIPTION",
	"RETAINED_LIMIT", "STORE", "INTERNAL", "PERMISSION_DENIED",
}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Code(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// Hello is the body of a HELLO frame.
type Hello struct {
	Version uint8
	NoEcho  bool // sent as FlagNoEcho
	Name    string
	Token   string
	User    string
	Pass    string
	Will    *Will // sent as FlagWill and the will fields; nil for none
	// WantLimits (FlagWantLimits) asks for a WELCOME that announces the
	// max frame and the dead-peer timeout. It is an opt-in so that a client
	// written before those fields existed, which refuses unknown WELCOME
	// flags and trailing bytes, keeps working.
	WantLimits bool
}

// Will is the message the broker publishes for a client whose connection
// ends without a BYE. In a decoded HELLO, Header and Payload alias the
// frame's buffer.
type Will struct {
	Topic   string
	Retain  bool
	DelayMS uint32 // how long after the connection ends it is published
	TTL     uint32 // milliseconds the message lives; 0 for no limit
	Header  []byte // a header block (AppendHeader), or empty
	Payload []byte
}

// Welcome is the body of a WELCOME frame.
type Welcome struct {
	Version       uint8
	ServerID      string
	ServerVersion string
	SessionID     uint64
	MaxPayload    uint32 // largest PUB payload the server accepts
	HeartbeatMS   uint32 // the server's PING interval in milliseconds
	// MaxFrame and DeadPeerMS are sent (FlagLimits) when both are non-zero,
	// which a server does only for a HELLO with FlagWantLimits.
	MaxFrame   uint32 // largest frame body the server accepts
	DeadPeerMS uint32 // silence after which the server drops a client
}

// Frame is a decoded frame. Byte slices alias the buffer they were decoded
// from and are valid only until the next decode into that buffer
// (Reader.Next). Fields unused by a type are zero.
//
// For a decoded frame, FlagReply is set exactly when Reply is non-empty and
// FlagHeader exactly when Header is non-empty; for PUB, FlagAck exactly when
// AckID is non-zero and FlagTTL exactly when TTL is non-zero; for MSG,
// FlagMsgTTL exactly when TTL is non-zero.
type Frame struct {
	Type    Type
	Flags   Flags
	SID     uint32  // SUB, UNSUB, MSG, ERR
	Max     uint32  // UNSUB
	AckID   uint64  // PUB (FlagAck), ACK
	TTL     uint32  // PUB (FlagTTL), MSG (FlagMsgTTL): milliseconds the message lives
	Code    Code    // ACK, ERR
	Topic   []byte  // PUB, MSG; the filter for SUB
	Reply   []byte  // PUB, MSG
	Queue   []byte  // SUB
	Header  []byte  // PUB, MSG: the raw header block (without its u32 length), validated structurally
	Payload []byte  // PUB, MSG
	Text    []byte  // ACK, ERR
	Hello   Hello   // HELLO only (strings allocate; handshake only)
	Welcome Welcome // WELCOME only
}

// FrameLen returns the total length (header and body) of the frame at the
// start of p, and false if p is shorter than the 6-byte header. It does not
// check the length against any limit.
func FrameLen(p []byte) (int, bool) {
	if len(p) < HeaderLen {
		return 0, false
	}
	return HeaderLen + int(binary.BigEndian.Uint32(p)), true
}

// ChunkLen returns how much of p, a run of whole frames, to write in one
// call of at most about limit bytes: all of p when it fits, otherwise the
// frames that fit (at least one, however large). Writers use it so that a
// write deadline bounds one chunk rather than a whole backlog.
func ChunkLen(p []byte, limit int) int {
	if len(p) <= limit {
		return len(p)
	}
	n := 0
	for n < len(p) && n < limit {
		fl, ok := FrameLen(p[n:])
		if !ok || fl > len(p)-n {
			if n == 0 {
				return len(p) // not a whole frame: write it as it is
			}
			break
		}
		if n > 0 && n+fl > limit {
			break
		}
		n += fl
	}
	return n
}

// TTLMillis is d in whole milliseconds for a ttl field: 0 for no limit
// (d <= 0), otherwise rounded up (a message with time left never goes out
// as "no limit") and capped at the u32 field's largest value (about 49
// days).
func TTLMillis(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32(min((d+time.Millisecond-1)/time.Millisecond, math.MaxUint32))
}
