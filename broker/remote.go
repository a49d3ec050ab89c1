package broker

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/msgtrans/msgtrans/topics"
)

// The seam for a cluster. A backplane links this broker to others: it
// tells them this broker's interest (WatchInterest), records theirs here
// (SetRemoteInterest, DropNode), carries the messages this broker forwards
// to them (a Forwarder, attached with AttachBackplane), and hands over the
// messages they forward here (DeliverRemote). The routing layer does the
// rest: it forwards a message only to nodes whose interest matches it,
// once per node, chooses one member per queue group across the cluster,
// and counts forwarded messages for no-responders. A message delivered
// from another node carries its origin and is never forwarded again.

// Forwarder carries messages from this broker to other nodes.
type Forwarder interface {
	// Forward hands m, published on this broker, to node, which has
	// interest in its topic: node delivers it to its plain subscribers,
	// and to one member of each queue group in groups (the groups for
	// which this broker chose a member on node). Forward is called on the
	// publisher's goroutine and must not block: a backplane queues, bounded,
	// and counts what it drops. m and groups are valid only during the call.
	Forward(node string, m *Message, groups []QueueGroup)
}

// AckForwarder is a Forwarder that can tell when a message has left this
// node for good: for a backplane, when the system that carries it to the
// other nodes has accepted it. A message whose publisher asked for an ack
// goes to ForwardAck instead of Forward, and the publisher is acked once
// every node's done has been called: with the first error, if any, and
// otherwise nil. done must be called exactly once, possibly before
// ForwardAck returns, and must not block.
type AckForwarder interface {
	Forwarder
	ForwardAck(node string, m *Message, groups []QueueGroup, done func(error))
}

// QueueGroup names a queue group: its filter and its name.
type QueueGroup struct {
	Filter, Name string
}

// ErrNoBackplane is returned by DeliverRemote and SetRemoteInterest when
// no backplane is attached.
var ErrNoBackplane = errors.New("broker: no backplane attached")

type forwarder struct {
	f  Forwarder
	af AckForwarder // f, if it is one
}

type remoteKey struct{ node, filter, queue string }

// AttachBackplane makes f carry this broker's messages to other nodes. The
// returned function detaches it and forgets every other node's interest.
func (b *Broker) AttachBackplane(f Forwarder) (detach func()) {
	af, _ := f.(AckForwarder)
	b.interest.fwd.Store(&forwarder{f, af})
	return func() {
		b.interest.fwd.Store(nil)
		b.interest.dropNodes(func(string) bool { return true })
	}
}

// SetRemoteInterest records that node has gained (present) or lost its
// interest in (filter, queue), as that node's InterestListener reported it.
func (b *Broker) SetRemoteInterest(node, filter, queue string, present bool) error {
	if node == "" {
		return errors.New("broker: remote interest without a node")
	}
	if b.interest.fwd.Load() == nil {
		return ErrNoBackplane
	}
	in := b.interest
	in.mu.Lock()
	defer in.mu.Unlock()
	key := remoteKey{node, filter, queue}
	sub, had := in.remote[key]
	switch {
	case present && !had:
		sub = &subscription{node: node, filter: filter, queue: queue}
		if err := in.tree.Insert(filter, queue, sub); err != nil {
			return fmt.Errorf("%w: %w", ErrBadTopic, err)
		}
		in.remote[key] = sub
	case !present && had:
		delete(in.remote, key)
		in.tree.Remove(filter, queue, sub)
	}
	return nil
}

// DropNode forgets every interest of node: it left the cluster or is
// presumed dead. Its queue-group members stop being chosen at once.
func (b *Broker) DropNode(node string) {
	b.interest.dropNodes(func(n string) bool { return n == node })
}

func (in *interest) dropNodes(match func(string) bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for key, sub := range in.remote {
		if match(key.node) {
			delete(in.remote, key)
			in.tree.Remove(sub.filter, sub.queue, sub)
		}
	}
}

// DeliverRemote delivers m, which node origin published and forwarded
// here, to this broker's plain subscribers and to one member of each queue
// group in groups. It stores nothing (a retained message was stored where
// it was published) and answers no request: the origin does both. It
// returns how many deliveries it made.
func (b *Broker) DeliverRemote(origin string, m *Message, groups []QueueGroup) (int, error) {
	if origin == "" {
		return 0, errors.New("broker: remote message without an origin")
	}
	if b.interest.fwd.Load() == nil {
		return 0, ErrNoBackplane
	}
	if err := topics.ValidatePublishBytes(m.Topic); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadTopic, err)
	}
	m.Origin, m.AckID, m.Retained, m.NoResponders = origin, 0, false, false
	return b.interest.route(nil, m, groups, nil)
}

// localCount is the number of local subscriptions: the trie's entries
// less other nodes'.
func (in *interest) localCount() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.tree.Len() - len(in.remote)
}

// forwards collects, during one route, the nodes a message goes to and the
// queue groups chosen on each. A few fit without allocating.
type forwards struct {
	n     int
	fixed [4]forward
	more  []forward
}

type forward struct {
	node   string
	groups []QueueGroup
}

func (f *forwards) len() int { return f.n }

func (f *forwards) at(i int) *forward {
	if i < len(f.fixed) {
		return &f.fixed[i]
	}
	return &f.more[i-len(f.fixed)]
}

// add notes that m goes to node, for group when it is not nil.
func (f *forwards) add(node string, group *QueueGroup) {
	for i := range f.n {
		if e := f.at(i); e.node == node {
			if group != nil {
				e.groups = append(e.groups, *group)
			}
			return
		}
	}
	if f.n < len(f.fixed) {
		f.fixed[f.n] = forward{node: node}
	} else {
		f.more = append(f.more, forward{node: node})
	}
	if group != nil {
		e := f.at(f.n)
		e.groups = append(e.groups, *group)
	}
	f.n++
}

// forward hands m to each collected node and returns how many there were.
// With ack, the publisher's ack waits for an AckForwarder's word on each.
func (in *interest) forward(m *Message, f *forwards, ack *ackJoin) int {
	fw := in.fwd.Load()
	if fw == nil {
		return 0 // detached meanwhile
	}
	for i := range f.n {
		e := f.at(i)
		if ack != nil && fw.af != nil {
			ack.pending.Add(1)
			fw.af.ForwardAck(e.node, m, e.groups, ack.done)
		} else {
			fw.f.Forward(e.node, m, e.groups)
		}
	}
	return f.n
}

// ackJoin acks a publish once every part of it has answered: the broker's
// own routing, the retained store, each node an AckForwarder carried it to.
type ackJoin struct {
	pending atomic.Int32
	err     atomic.Pointer[error] // the first error
	ack     func(error)
}

// newAckJoin returns a join waiting for parts answers.
func newAckJoin(parts int32, ack func(error)) *ackJoin {
	j := &ackJoin{ack: ack}
	j.pending.Store(parts)
	return j
}

func (j *ackJoin) done(err error) {
	if err != nil {
		j.err.CompareAndSwap(nil, &err)
	}
	if j.pending.Add(-1) == 0 {
		if e := j.err.Load(); e != nil {
			j.ack(*e)
			return
		}
		j.ack(nil)
	}
}
