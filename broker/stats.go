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
	StoreErrors           uint64         // retained publishes the store failed to keep (disk full, I/O)
	// RetainedBytes is what the retained messages count against the
	// store's byte limit, or -1 for a store that does not say (see
	// RetainedSizer).
	RetainedBytes int
	// ByProtocol holds the same counters per protocol, for every protocol
	// that has had a session since start.
	ByProtocol map[string]ProtocolStats
}

// ProtocolStats are the counters of one protocol's sessions, open and
// closed.
type ProtocolStats struct {
	Connections                        int    // open now
	TotalConnections                   uint64 // opened since start
	MsgsIn, BytesIn, MsgsOut, BytesOut uint64
}

// RetainedSizer is a RetainedStore that can tell how many bytes its
// messages count against its byte limit.
type RetainedSizer interface {
	Bytes() int
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
		StoreErrors:           b.storeErrors.Load(),
		AuthFailures:          b.authFail.Load(),
		PermissionDenials:     b.denials.Load(),
		ByProtocol:            make(map[string]ProtocolStats, len(b.totalBy)),
	}
	for p, n := range b.byProto {
		st.ConnectionsByProtocol[p] = n
	}
	for p, n := range b.totalBy {
		g := b.goneBy[p]
		st.ByProtocol[p] = ProtocolStats{
			Connections: b.byProto[p], TotalConnections: n,
			MsgsIn: g.MsgsIn, BytesIn: g.BytesIn, MsgsOut: g.MsgsOut, BytesOut: g.BytesOut,
		}
	}
	for _, s := range b.sessions {
		in, bin, out, bout := s.msgsIn.Load(), s.bytesIn.Load(), s.msgsOut.Load(), s.bytesOut.Load()
		st.MsgsIn += in
		st.BytesIn += bin
		st.MsgsOut += out
		st.BytesOut += bout
		ps := st.ByProtocol[s.info.Protocol]
		ps.MsgsIn += in
		ps.BytesIn += bin
		ps.MsgsOut += out
		ps.BytesOut += bout
		st.ByProtocol[s.info.Protocol] = ps
	}
	b.mu.Unlock()
	st.Subscriptions = b.interest.localCount()
	st.Retained = b.opts.Retained.Len()
	st.RetainedBytes = -1
	if rs, ok := b.opts.Retained.(RetainedSizer); ok {
		st.RetainedBytes = rs.Bytes()
	}
	return st
}

// EventKind tells what happened to a session.
type EventKind int

// Session lifecycle events.
const (
	SessionOpened EventKind = iota + 1
	SessionClosed
	// StoreFailed: the retained store could not keep a retained publish
	// of Session's; Reason says which topic and why.
	StoreFailed
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
	case StoreFailed:
		return "retained store failed"
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
	// ErrSlowConsumer, ErrShutdown, a protocol or network error otherwise;
	// for StoreFailed, the store's error (wrapping ErrStore).
	Reason error
	Time   time.Time
	// Stats are the session's final counters, on SessionClosed.
	Stats SessionStats
}

func (b *Broker) emit(e Event) {
	if b.opts.OnEvent != nil {
		e.Time = time.Now()
		b.opts.OnEvent(e)
	}
}
