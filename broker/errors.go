package broker

import "errors"

// Sentinel errors returned by the broker. Adapters map them to their wire
// protocol's error codes; callers match them with errors.Is.
var (
	// ErrClosed is returned by calls on a broker that has been closed.
	ErrClosed = errors.New("broker: closed")
	// ErrShutdown is the reason given to sessions closed by a graceful
	// shutdown, and the error for publishes and connects made while it drains.
	ErrShutdown = errors.New("broker: shutting down")
	// ErrSessionClosed is returned by calls on a session that has ended.
	ErrSessionClosed = errors.New("broker: session closed")
	// ErrMaxConnections is returned by Connect when the connection limit is reached.
	ErrMaxConnections = errors.New("broker: maximum connections reached")
	// ErrAuth is returned by Connect when the credentials are refused.
	ErrAuth = errors.New("broker: authentication failed")
	// ErrPayloadTooLarge is returned for a publish whose payload exceeds the limit.
	ErrPayloadTooLarge = errors.New("broker: payload too large")
	// ErrBadTopic wraps the topics package error that explains what is wrong.
	ErrBadTopic = errors.New("broker: invalid topic")
	// ErrTooManySubs is returned when a session reaches its subscription limit.
	ErrTooManySubs = errors.New("broker: too many subscriptions")
	// ErrBadSubscription is returned for a duplicate or unknown subscription id.
	ErrBadSubscription = errors.New("broker: bad subscription id")
	// ErrSlowConsumer is the reason a session is closed when its pending
	// outbound bytes exceed the limit.
	ErrSlowConsumer = errors.New("broker: slow consumer")
	// ErrRetainedLimit is returned when storing a retained message would
	// exceed the retained store's limits; the existing data is kept.
	ErrRetainedLimit = errors.New("broker: retained store limit reached")
	// ErrPermission is returned for a publish or subscription the session's
	// principal may not make, and is the reason a subscription is revoked.
	ErrPermission = errors.New("broker: permission denied")
	// ErrStore wraps a retained store failure (I/O, disk full).
	ErrStore = errors.New("broker: retained store error")
	// ErrForward is what an AckForwarder reports for a message it could not
	// hand to the cluster (its queue for a node was full, or the backplane
	// refused it): the publisher's ack carries it.
	ErrForward = errors.New("broker: not forwarded to the cluster")
)
