package broker

import (
	mrand "math/rand/v2"
	"sync"

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
type interest struct {
	tree *topics.Tree[*subscription]

	mu        sync.Mutex // orders changes and their notifications
	listeners map[uint64]InterestListener
	nextL     uint64
}

func newInterest() *interest {
	return &interest{tree: topics.NewTree[*subscription](0), listeners: make(map[uint64]InterestListener)}
}

// add inserts sub; the caller validated nothing, the trie does.
func (in *interest) add(sub *subscription) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.tree.Insert(sub.filter, sub.queue, sub); err != nil {
		return err
	}
	if len(in.listeners) > 0 && in.tree.Count(sub.filter, sub.queue) == 1 {
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
	if len(in.listeners) > 0 && in.tree.Count(sub.filter, sub.queue) == 0 {
		in.notify(sub.filter, sub.queue, false)
	}
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
	in.tree.Walk(func(filter, queue string, _ int) bool {
		l.InterestChanged(filter, queue, true)
		return true
	})
	in.nextL++
	key := in.nextL
	in.listeners[key] = l
	return func() {
		in.mu.Lock()
		delete(in.listeners, key)
		in.mu.Unlock()
	}
}

// list returns every (filter, queue) with subscribers.
func (in *interest) list() []Interest {
	var out []Interest
	in.tree.Walk(func(filter, queue string, n int) bool {
		out = append(out, Interest{Filter: filter, Queue: queue, Subscribers: n})
		return true
	})
	return out
}

// route delivers m to every plain subscriber of its topic and to one member
// of each matching queue group, and returns how many deliveries it made.
// The topic must be valid (an invalid one routes nowhere and errs). Every
// subscriber gets m itself: the caller has cleared what they must not see.
func (in *interest) route(from *Session, m *Message) (int, error) {
	res, err := in.tree.MatchBytes(m.Topic)
	if err != nil || res.Empty() {
		return 0, err
	}
	n := 0
	noEcho := from != nil && from.info.NoEcho
	for _, sub := range res.Plain {
		if sub.sess == from && (noEcho || sub.noLocal) {
			continue
		}
		if sub.sess.deliver(sub, m) {
			n++
		}
	}
	for i := range res.Queues {
		members := res.Queues[i].Members
		// Start at a random member; move on past members that cannot take
		// the message (closing, not permitted, the publisher itself with
		// no-echo).
		start := mrand.IntN(len(members))
		for j := range members {
			sub := members[(start+j)%len(members)]
			if sub.sess == from && (noEcho || sub.noLocal) {
				continue
			}
			if sub.sess.deliver(sub, m) {
				n++
				break
			}
		}
	}
	return n, nil
}

// noResponders tells a requester at once that nobody took its request, by
// sending a status message to the request's reply topic. It is called
// when route made no delivery for a message with a reply topic.
func (in *interest) noResponders(reply []byte) {
	in.route(nil, &Message{Topic: reply, NoResponders: true})
}
