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
	Subscriptions         int            // subscriptions now, over all sessions
	Retained              int            // retained messages stored
	StoreErrors           uint64         // retained publishes the store failed to keep (disk full, I/O)
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
	// StoreFailed: the retained store could not keep a retained publish
	// of Session's; Reason says which topic and why.
	StoreFailed
)

func (k EventKind) String() string {
	switch k {
	case SessionOpened:
		return "session opened"
	case SessionClosed:
		return "session closed"
	case StoreFailed:
		return "retained store failed"
	}
	return "unknown event"
}

// Event is a session lifecycle event, passed to Options.OnEvent.
type Event struct {
	Kind    EventKind
	Session SessionInfo
	// Reason is why a session closed: nil for a clean close by the client,
	// ErrSlowConsumer, ErrShutdown, a protocol or network error otherwise;
	// for StoreFailed, the store's error (wrapping ErrStore).
	Reason error
	Time   time.Time
}

func (b *Broker) emit(e Event) {
	if b.opts.OnEvent != nil {
		e.Time = time.Now()
		b.opts.OnEvent(e)
	}
}
