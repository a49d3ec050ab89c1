package sdk

import (
	"errors"
	"fmt"

	"github.com/msgtrans/msgtrans/wire"
)

// Sentinel errors. Errors that the server reports are *ServerError values,
// which also match the sentinel for their code with errors.Is.
var (
	ErrClosed               = errors.New("sdk: connection closed")
	ErrConnectionLost       = errors.New("sdk: connection lost before the broker confirmed")
	ErrNoServers            = errors.New("sdk: no server could be reached")
	ErrBadURL               = errors.New("sdk: bad server url")
	ErrNoResponders         = errors.New("sdk: no responders")
	ErrReconnectBufExceeded = errors.New("sdk: reconnect buffer full")
	ErrSlowConsumer         = errors.New("sdk: slow consumer, messages dropped")
	ErrBadSubscription      = errors.New("sdk: invalid subscription")
	ErrPayloadTooLarge      = errors.New("sdk: payload too large")
	ErrBadTopic             = errors.New("sdk: invalid topic")
	ErrAuth                 = errors.New("sdk: authentication failed")
	ErrTooManySubs          = errors.New("sdk: too many subscriptions")
	ErrDraining             = errors.New("sdk: connection draining")
	ErrPermission           = errors.New("sdk: permission denied")
	// ErrStore: the broker's retained store could not keep a retained
	// message (disk full, I/O error); it comes in the publish's ack, or as
	// an asynchronous error for a retained publish without one.
	ErrStore = errors.New("sdk: broker's retained store failed")
)

// ServerError is an error the broker reported, in an ERR frame or a
// publish ACK.
type ServerError struct {
	Code  wire.Code
	Text  string
	Fatal bool // the broker closed the connection after it
}

func (e *ServerError) Error() string { return fmt.Sprintf("sdk: server: %s (%v)", e.Text, e.Code) }

// Is lets errors.Is match a ServerError against the sdk sentinels.
func (e *ServerError) Is(target error) bool {
	switch e.Code {
	case wire.CodeAuth:
		return target == ErrAuth
	case wire.CodePayloadTooLarge:
		return target == ErrPayloadTooLarge
	case wire.CodeBadTopic:
		return target == ErrBadTopic
	case wire.CodeTooManySubs:
		return target == ErrTooManySubs
	case wire.CodeBadSubscription:
		return target == ErrBadSubscription
	case wire.CodeSlowConsumer:
		return target == ErrSlowConsumer
	case wire.CodePermission:
		return target == ErrPermission
	case wire.CodeStore:
		return target == ErrStore
	}
	return false
}

func serverError(code wire.Code, text []byte, fatal bool) *ServerError {
	return &ServerError{Code: code, Text: string(text), Fatal: fatal}
}
