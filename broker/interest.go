package broker

import (
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/msgtrans/msgtrans/topics"
)

// InterestListener learns when a (filter, queue group) gains its first
// subscriber on this broker or loses its last: what a cluster backplane
// tells other nodes, and what monitoring shows. Calls are made one at a
// time, in the order of the changes, while the broker's interest lock is
// held: they must return quickly and must not call back into the broker.
type InterestListener interface {
	InterestChanged(filter, queue string, present bool)
}

// Interest is one (filter, queue group) that has subscribers. Queue is
// empty for plain subscribers.
type Interest struct {
	Filter, Queue string
	Subscribers   int
}

// interest is the routing layer between sessions and the topic trie: it
// holds every subscription, tells listeners when a (filter, queue) appears
// or goes, chooses one member of each matching queue group, and decides
// when a request has no responders. Sessions never touch the trie.
//
// Other brokers of a cluster are members of the same trie (remote.go): one
// entry per node and (filter, queue) it has interest in, with no session.
// Routing forwards to them what was published here; listeners hear of
// local interest only.
type interest struct {
	tree *topics.Tree[*subscription]

	mu        sync.Mutex // orders changes and their notifications
	listeners map[uint64]InterestListener
	nextL     uint64
	remote    map[remoteKey]*subscription // under mu
	fwd       atomic.Pointer[forwarder]   // set while a backplane is attached
}

func newInterest() *interest {
	return &interest{
		tree:      topics.NewTree[*subscription](0),
		listeners: make(map[uint64]InterestListener),
		remote:    make(map[remoteKey]*subscription),
	}
}

// add inserts sub; the caller validated nothing, the trie does.
func (in *interest) add(sub *subscription) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.tree.Insert(sub.filter, sub.queue, sub); err != nil {
		return err
	}
	if len(in.listeners) > 0 && sub.sess != nil && !in.otherLocal(sub) {
		in.notify(sub.filter, sub.queue, true)
	}
	return nil
}

// remove undoes add.
func (in *interest) remove(sub *subscription) {
	in.mu.Lock()
	defer in.mu.Unlock()
	// sub was inserted with exactly these arguments: Remove cannot fail.
	if in.tree.Remove(sub.filter, sub.queue, sub) != nil {
		return
	}
	if len(in.listeners) > 0 && sub.sess != nil && !in.otherLocal(sub) {
		in.notify(sub.filter, sub.queue, false)
	}
}

// otherLocal reports whether (filter, queue) of sub has a local subscriber
// besides sub. It stops at the first: the members before it can only be
// other nodes' entries, one per node. in.mu is held.
func (in *interest) otherLocal(sub *subscription) bool {
	found := false
	in.tree.Members(sub.filter, sub.queue, func(o *subscription) bool {
		found = o != sub && o.sess != nil
		return !found
	})
	return found
}

func (in *interest) notify(filter, queue string, present bool) {
	for _, l := range in.listeners {
		l.InterestChanged(filter, queue, present)
	}
}

// watch registers l after telling it every (filter, queue) present now, so
// that it misses no change; the returned function unregisters it.
func (in *interest) watch(l InterestListener) (stop func()) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range in.localInterest() {
		l.InterestChanged(e.Filter, e.Queue, true)
	}
	in.nextL++
	key := in.nextL
	in.listeners[key] = l
	return func() {
		in.mu.Lock()
		delete(in.listeners, key)
		in.mu.Unlock()
	}
}

// localInterest returns every (filter, queue) with local subscribers, and
// how many.
func (in *interest) localInterest() []Interest {
	var out []Interest
	in.tree.Walk(func(filter, queue string, members []*subscription) bool {
		n := 0
		for _, sub := range members {
			if sub.sess != nil {
				n++
			}
		}
		if n > 0 {
			out = append(out, Interest{Filter: filter, Queue: queue, Subscribers: n})
		}
		return true
	})
	return out
}

// route delivers m to every plain subscriber of its topic and to one member
// of each matching queue group, and returns how many deliveries it made.
// The topic must be valid (an invalid one routes nowhere and errs). Every
// subscriber gets m itself: the caller has cleared what they must not see.
//
// A message published here (m.Origin empty) also goes to the other nodes
// with plain interest in its topic, and to those chosen for a queue group.
// A message from another node (DeliverRemote) is delivered here only, to
// plain subscribers and to the queue groups in chosen: its origin made
// every other choice, and nothing is forwarded again, so nothing loops.
//
// ack, if not nil, is the publisher's pending ack: forwards to an
// AckForwarder join it.
func (in *interest) route(from *Session, m *Message, chosen []QueueGroup, ack *ackJoin) (int, error) {
	res, err := in.match(from, m.Topic)
	if err != nil {
		return 0, err
	}
	return in.routeMatched(from, m, res, chosen, ack), nil
}

// match returns the subscriptions that match topic, for a message from
// from (nil: from another node or the broker itself).
func (in *interest) match(from *Session, topic []byte) (*topics.Result[*subscription], error) {
	var hint uint32 // spreads publishers over the trie's read locks
	if from != nil {
		hint = uint32(from.info.ID)
	}
	return in.tree.MatchBytesFrom(topic, hint)
}

// routeMatched is route once the topic is matched: res is its result.
func (in *interest) routeMatched(from *Session, m *Message, res *topics.Result[*subscription], chosen []QueueGroup, ack *ackJoin) int {
	if res.Empty() {
		return 0
	}
	here := m.Origin == ""
	var fw forwards // stays empty, and on the stack, without other nodes
	n := 0
	noEcho := from != nil && from.info.NoEcho
	for _, sub := range res.Plain {
		if sub.sess == nil {
			if here {
				fw.add(sub.node, nil)
			}
			continue
		}
		if sub.sess == from && (noEcho || sub.noLocal) {
			continue
		}
		if sub.sess.deliver(sub, m) {
			n++
		}
	}
	for i := range res.Queues {
		members := res.Queues[i].Members
		if !here && !isChosen(chosen, members[0].filter, res.Queues[i].Name) {
			continue
		}
		// Start at a random member; move on past members that cannot take
		// the message (closing, not permitted, the publisher itself with
		// no-echo, another node's when the message came from one).
		start := mrand.IntN(len(members))
		for j := range members {
			sub := members[(start+j)%len(members)]
			if sub.sess == nil {
				if !here {
					continue
				}
				fw.add(sub.node, &QueueGroup{Filter: sub.filter, Name: sub.queue})
				break
			}
			if sub.sess == from && (noEcho || sub.noLocal) {
				continue
			}
			if sub.sess.deliver(sub, m) {
				n++
				break
			}
		}
	}
	if fw.len() > 0 {
		n += in.forward(m, &fw, ack)
	}
	return n
}

func isChosen(chosen []QueueGroup, filter, name string) bool {
	for _, g := range chosen {
		if g.Filter == filter && g.Name == name {
			return true
		}
	}
	return false
}

// noResponders tells a requester at once that nobody took its request, by
// sending a status message to its own subscriptions that match the
// request's reply topic (its inbox). Only its own: anyone else subscribed
// to that topic would get a message on a topic the requester may not be
// allowed to publish to. It is called when route made no delivery for a
// message with a reply topic.
func (in *interest) noResponders(from *Session, reply []byte) {
	if from == nil {
		return
	}
	res, err := in.tree.MatchBytes(reply)
	if err != nil || res.Empty() {
		return
	}
	m := &Message{Topic: reply, NoResponders: true}
	for _, sub := range res.Plain {
		if sub.sess == from {
			from.deliver(sub, m)
		}
	}
	for i := range res.Queues {
		for _, sub := range res.Queues[i].Members {
			if sub.sess == from && from.deliver(sub, m) {
				break
			}
		}
	}
}
