package broker

import (
	"slices"
	"time"
)

// Stats is a snapshot of the broker's counters.
type Stats struct {
	Connections           int            // sessions open now
	ConnectionsByProtocol map[string]int // sessions open now, by protocol
	TotalConnections      uint64         // sessions opened since start
	MsgsIn, BytesIn       uint64         // publishes received (bytes: payloads)
	MsgsOut, BytesOut     uint64         // deliveries queued to sessions (bytes: payloads)
	SlowConsumers         uint64         // sessions closed for exceeding MaxPending
	AuthFailures          uint64         // clients whose credentials were refused
	PermissionDenials     uint64         // publishes and subscriptions refused by the session's permissions
	Subscriptions         int            // subscriptions now, over all sessions
	Retained              int            // retained messages stored
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
		AuthFailures:          b.authFail.Load(),
		PermissionDenials:     b.denied.Load(),
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

// Sessions returns the open sessions, by id.
func (b *Broker) Sessions() []*Session {
	b.mu.Lock()
	out := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		out = append(out, s)
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(a, c *Session) int { return cmpID(a.info.ID, c.info.ID) })
	return out
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// PendingConn is a Conn that can tell how many bytes wait to be written
// to its client. Monitoring asks it when it looks, so that the delivery
// path keeps no count of its own.
type PendingConn interface {
	Pending() int
}

// Pending returns how many bytes wait to be written to the client, or -1
// when the session's connection does not say.
func (s *Session) Pending() int {
	if pc, ok := s.conn.(PendingConn); ok {
		return pc.Pending()
	}
	return -1
}

// SubscriptionInfo describes one subscription of a session.
type SubscriptionInfo struct {
	SID       uint32
	Filter    string
	Queue     string // empty for a plain subscription
	Delivered uint64 // messages delivered to it so far
}

// Subscriptions lists the session's subscriptions, by sid.
func (s *Session) Subscriptions() []SubscriptionInfo {
	s.mu.Lock()
	out := make([]SubscriptionInfo, 0, len(s.subs))
	for _, sub := range s.subs {
		out = append(out, SubscriptionInfo{SID: sub.sid, Filter: sub.filter, Queue: sub.queue, Delivered: sub.delivered.Load()})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, c SubscriptionInfo) int { return cmpID(uint64(a.SID), uint64(c.SID)) })
	return out
}

// Receiver is a subscription that a message published on a topic would
// reach: a session's, or another cluster node's interest (Node set,
// Session 0).
type Receiver struct {
	Session uint64
	SID     uint32
	Node    string
	Filter  string
	Queue   string // set for a queue-group member: one member of each group gets the message
}

// Receivers lists who a message published on topic, here, would be
// offered to: every plain subscription that matches and every member of
// each matching queue group (of which one would be chosen). It does not
// ask permissions: a filtered subscription may still skip the message.
func (b *Broker) Receivers(topic string) ([]Receiver, error) {
	res, err := b.interest.tree.Match(topic)
	if err != nil {
		return nil, err
	}
	var out []Receiver
	add := func(sub *subscription) {
		r := Receiver{SID: sub.sid, Node: sub.node, Filter: sub.filter, Queue: sub.queue}
		if sub.sess != nil {
			r.Session = sub.sess.info.ID
		}
		out = append(out, r)
	}
	for _, sub := range res.Plain {
		add(sub)
	}
	for i := range res.Queues {
		for _, sub := range res.Queues[i].Members {
			add(sub)
		}
	}
	return out, nil
}

// EventKind tells what happened to a session.
type EventKind int

// Session lifecycle events.
const (
	SessionOpened EventKind = iota + 1
	SessionClosed
)

func (k EventKind) String() string {
	switch k {
	case SessionOpened:
		return "session opened"
	case SessionClosed:
		return "session closed"
	}
	return "unknown event"
}

// Event is a session lifecycle event, passed to Options.OnEvent.
type Event struct {
	Kind    EventKind
	Session SessionInfo
	// Reason is why a session closed: nil for a clean close by the client,
	// ErrSlowConsumer, ErrShutdown, a protocol or network error otherwise.
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
