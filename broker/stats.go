package broker

import "time"

// Stats is a snapshot of the broker's counters.
type Stats struct {
	Connections           int            // sessions open now
	ConnectionsByProtocol map[string]int // sessions open now, by protocol
	TotalConnections      uint64         // sessions opened since start
	MsgsIn, BytesIn       uint64         // publishes received (bytes: payloads)
	MsgsOut, BytesOut     uint64         // deliveries queued to sessions (bytes: payloads)
	SlowConsumers         uint64         // sessions closed for exceeding MaxPending
	AuthFailures          uint64         // connections refused by the Authenticator
	PermissionDenials     uint64         // publishes, subscriptions and revocations refused by Permissions
	Subscriptions         int            // subscriptions now, over all sessions
	Retained              int            // retained messages stored
}

// Stats returns a snapshot of the broker's counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	st := Stats{
		Connections:           len(b.sessions),
		ConnectionsByProtocol: make(map[string]int, len(b.byProto)),
		TotalConnections:      b.total,
		MsgsIn:                b.gone.MsgsIn,
		BytesIn:               b.gone.BytesIn,
		MsgsOut:               b.gone.MsgsOut,
		BytesOut:              b.gone.BytesOut,
		SlowConsumers:         b.slow.Load(),
		AuthFailures:          b.authFail.Load(),
		PermissionDenials:     b.denials.Load(),
	}
	for p, n := range b.byProto {
		st.ConnectionsByProtocol[p] = n
	}
	for _, s := range b.sessions {
		st.MsgsIn += s.msgsIn.Load()
		st.BytesIn += s.bytesIn.Load()
		st.MsgsOut += s.msgsOut.Load()
		st.BytesOut += s.bytesOut.Load()
	}
	b.mu.Unlock()
	st.Subscriptions = b.interest.localCount()
	st.Retained = b.opts.Retained.Len()
	return st
}

// EventKind tells what happened to a session.
type EventKind int

// Session lifecycle events.
const (
	SessionOpened EventKind = iota + 1
	SessionClosed
	// AuthFailed: the Authenticator refused a client. Session holds what
	// is known before a session opens (no ID; User is the user the client
	// claimed); Reason is the Authenticator's error.
	AuthFailed
	// PermissionDenied: a session was refused a publish or a subscription,
	// or had a subscription revoked. Reported once per session, operation
	// and topic (every refusal is counted in Stats.PermissionDenials);
	// Reason names the topic.
	PermissionDenied
)

func (k EventKind) String() string {
	switch k {
	case SessionOpened:
		return "session opened"
	case SessionClosed:
		return "session closed"
	case AuthFailed:
		return "authentication failed"
	case PermissionDenied:
		return "permission denied"
	}
	return "unknown event"
}

// Event is a session lifecycle or security event, passed to Options.OnEvent.
type Event struct {
	Kind    EventKind
	Session SessionInfo
	// Reason is why a session closed: nil for a clean close by the client,
	// ErrSlowConsumer, ErrShutdown, a protocol or network error otherwise.
	Reason error
	Time   time.Time
}

func (b *Broker) emit(e Event) {
	if b.opts.OnEvent != nil {
		e.Time = time.Now()
		b.opts.OnEvent(e)
	}
}
