package packet

import "errors"

// Error is a packet the Reader refused. Code is the reason code a 5.0
// server sends in its DISCONNECT (or its CONNACK, for an error in CONNECT)
// before it closes the connection; at 3.1.1 the server closes it without
// a word, except for the CONNECT errors that have a CONNACK return code
// (see ReasonCode.V311Connack).
//
// Every Error matches the sentinel of its code with errors.Is:
// ErrMalformed, ErrProtocol, ErrTooLarge, ErrUnsupportedVersion,
// ErrTopicName or ErrTopicFilter.
type Error struct {
	Code    ReasonCode
	Type    Type    // the packet being read; 0 if its first byte was not read or its type is reserved
	Version Version // the level the packet was read at; for a CONNECT, the level it declares
	Reason  string  // what is wrong, for logs
}

func (e *Error) Error() string {
	s := "mqtt: " + e.Code.String()
	if e.Type != 0 {
		s += ": " + e.Type.String()
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Type == 0 && t.Reason == "" && t.Code == e.Code
}

// The sentinels, one per reason code the Reader returns.
var (
	ErrMalformed          = &Error{Code: MalformedPacket}
	ErrProtocol           = &Error{Code: ProtocolError}
	ErrTooLarge           = &Error{Code: PacketTooLarge}
	ErrUnsupportedVersion = &Error{Code: UnsupportedProtocolVersion}
	ErrTopicName          = &Error{Code: TopicNameInvalid}
	ErrTopicFilter        = &Error{Code: TopicFilterInvalid}
)

// CodeOf returns the reason code carried by err, and false if err is not
// (and wraps no) *Error: an I/O error, after which there is nobody to
// tell.
func CodeOf(err error) (ReasonCode, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	return 0, false
}
