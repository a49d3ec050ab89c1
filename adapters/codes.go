package adapters

import (
	"errors"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// Errors of the engine itself, given as session close reasons.
var (
	ErrHandshakeTimeout = errors.New("adapters: handshake not completed in time")
	ErrStale            = errors.New("adapters: peer silent past the dead-peer timeout")
	ErrProtocol         = errors.New("adapters: protocol error")
	ErrVersion          = errors.New("adapters: unsupported protocol version")
)

var codeTable = []struct {
	err  error
	code wire.Code
}{
	{broker.ErrPayloadTooLarge, wire.CodePayloadTooLarge},
	{broker.ErrBadTopic, wire.CodeBadTopic},
	{broker.ErrTooManySubs, wire.CodeTooManySubs},
	{broker.ErrMaxConnections, wire.CodeMaxConnections},
	{broker.ErrAuth, wire.CodeAuth},
	{broker.ErrSlowConsumer, wire.CodeSlowConsumer},
	{broker.ErrShutdown, wire.CodeShutdown},
	{broker.ErrClosed, wire.CodeShutdown},
	{broker.ErrBadSubscription, wire.CodeBadSubscription},
	{broker.ErrRetainedLimit, wire.CodeRetainedLimit},
	{broker.ErrStore, wire.CodeStore},
	{broker.ErrPermission, wire.CodePermission},
	{ErrHandshakeTimeout, wire.CodeHandshakeTimeout},
	{ErrStale, wire.CodeStale},
	{ErrVersion, wire.CodeVersion},
	{wire.ErrFrameTooLarge, wire.CodeFrameTooLarge},
	{wire.ErrStalled, wire.CodeStale},
	{wire.ErrUnknownType, wire.CodeUnknownFrame},
	{wire.ErrMalformed, wire.CodeProtocol},
	{wire.ErrBadFlags, wire.CodeProtocol},
	{wire.ErrHeader, wire.CodeProtocol},
	{ErrProtocol, wire.CodeProtocol},
}

// Code maps an error from the broker, the engine or the wire package to the
// error code sent to clients.
func Code(err error) wire.Code {
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return wire.CodeInternal
}
