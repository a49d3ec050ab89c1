package broker

import "slices"

// What monitoring looks at besides the counters: the open sessions, their
// subscriptions and pending bytes, and who a topic would reach. All of it
// is read when asked; nothing here is kept up to date on the message path.

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
	out := make([]SubscriptionInfo, 0, s.subs.len())
	for sub := range s.subs.all {
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
