package broker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/topics"
)

// Conn is what an adapter gives the broker for each session: the way to
// reach the client. Both methods are called from other sessions' goroutines
// and must never block on the network.
type Conn interface {
	// Deliver queues m for the client's subscription sid and returns how
	// many bytes now wait to be written for this session, and false if the
	// session is ending and took nothing (a queue group then tries another
	// member). m and its slices are only valid during the call: the adapter
	// copies or encodes them before returning.
	Deliver(sid uint32, m *Message) (pending int, ok bool)
	// Ack reports the outcome of an accepted publish that carried an ack id:
	// err is nil once the message is routed (for a retained message: once it
	// is durable; in a cluster: once its backplane has accepted every
	// forward to another node), or says why the retained store could not
	// keep it or a forward failed. It may be called from the retained
	// store's or the backplane's goroutine, and acks may come out of order.
	// With id 0 it reports (err not nil) that a retained publish without
	// an ack id was accepted but the store could not keep it: the adapter
	// tells the client if its protocol can (the native one: a non-fatal
	// ERR), since nothing else would.
	Ack(id uint64, err error)
	// Close asks the adapter to end the session: write what is queued (for a
	// slow consumer: drop it), tell the client the reason if the protocol
	// can, close the connection, and then call Session.Close. It returns at
	// once and may be called more than once.
	Close(reason error)
	// Revoke tells the client that the broker removed its subscription sid
	// for reason (its permission was withdrawn), if the protocol can. It
	// must not block.
	Revoke(sid uint32, reason error)
}

// Message is a message, on its way in (Session.Publish) or out
// (Conn.Deliver). Its slices may alias an adapter's read buffer: the broker
// does not keep them, and neither may a Conn.
type Message struct {
	Topic   []byte
	Reply   []byte
	Header  []byte
	Payload []byte
	// Retain, on publish, asks the broker to keep the message as its
	// topic's retained message (an empty payload deletes it). On delivery it
	// says the message was published so, live or from the store.
	Retain bool
	// TTL is how long the message lives: a retained message stays retained
	// that long, and each delivery carries what is left of it, so that
	// whoever holds the message longer (a client's queue, an offline
	// session) drops it once expired. Zero means no limit.
	TTL time.Duration
	// AckID, on publish, when not zero, asks for Conn.Ack(AckID, ...) once
	// the message is accepted. A publish that Publish refuses is not acked:
	// the error return is the answer. Zero on delivery.
	AckID uint64

	// Origin is the cluster node a message was published on, for one that
	// another node forwarded here (DeliverRemote); empty for a message
	// published on this broker, and on publish. Only messages published
	// here are forwarded to other nodes, so nothing loops.
	Origin string

	// On delivery only:
	Retained     bool // comes from the retained store, not live traffic
	NoResponders bool // a status: the request sent to Topic (its reply topic) had no subscriber
}

// SessionInfo describes a session. It is fixed when the session opens.
type SessionInfo struct {
	ID uint64
	Peer
	Name   string // the client's self-chosen name
	User   string // the principal's user when the session opened
	NoEcho bool   // the client does not want its own publishes
	Opened time.Time
}

// SessionStats are one session's counters.
type SessionStats struct {
	MsgsIn, BytesIn, MsgsOut, BytesOut uint64
	Subscriptions                      int
}

// Session is one client connection, whatever its protocol. Publish,
// Subscribe and Unsubscribe are meant to be called from one goroutine (the
// connection's reader); deliveries to the session come from any goroutine.
type Session struct {
	b    *Broker
	info SessionInfo
	conn Conn

	principal atomic.Pointer[Principal] // swapped whole by SetPrincipal
	denials   denials                   // refusals already reported
	will      atomic.Pointer[Will]      // published if the session ends without a goodbye

	// publishing counts Publish calls in progress, so a shutdown can wait
	// until everything read from this session has been routed.
	publishing atomic.Int32
	closing    atomic.Bool // Conn.Close requested: deliveries are skipped
	msgsIn     atomic.Uint64
	bytesIn    atomic.Uint64
	msgsOut    atomic.Uint64
	bytesOut   atomic.Uint64
	memHeld    atomic.Int64 // what the connection holds, as counted in the broker's budget
	released   atomic.Bool  // closed: memHeld no longer counts

	// mu guards the subscriptions and orders deliveries to the connection.
	mu     sync.Mutex
	subs   subSet
	closed bool
	// The same subscriptions by filter, to count the ones a new filter
	// overlaps (MaxSubscriptionsPerTopic): literal filters with how many
	// subscriptions each, and the wildcard ones.
	literals map[string]int
	// refusals counts refused subscription requests and remembers the
	// last filter refused for overlapping too many (refusals.go).
	refusals refusals
	maxDup   int // at least the largest count in literals: a scan that reaches it can stop
	wild     []*subscription

	// reason is the first reason given for closing (an atomic apart from
	// mu: a slow consumer is detected while mu is held).
	reason atomic.Pointer[error]
}

type subscription struct {
	sess    *Session // nil for another node's interest (remote.go)
	node    string   // that node
	filter  string
	queue   string
	sid     uint32
	noLocal bool // not the session's own publishes
	// replaying: see held. (The small fields are together so that the
	// struct, one per subscription, fits 128 bytes.)
	replaying bool
	filtered  atomic.Bool // each message asks Permissions.MayReceive
	// max > 0: remove the subscription after max deliveries (auto-unsubscribe).
	max       atomic.Uint64
	delivered atomic.Uint64

	wildIdx int // its index in the session's wild, for a wildcard filter

	// While its retained messages are being replayed (replaying, without
	// the session's lock), live messages for the subscription wait in
	// held, copied, so that they follow the retained ones. Both under the
	// session's mu.
	held      []Message
	heldBytes int
}

// Info returns the session's description.
func (s *Session) Info() SessionInfo { return s.info }

// ID returns the session id.
func (s *Session) ID() uint64 { return s.info.ID }

// Stats returns the session's counters.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	n := s.subs.len()
	s.mu.Unlock()
	return SessionStats{
		MsgsIn: s.msgsIn.Load(), BytesIn: s.bytesIn.Load(),
		MsgsOut: s.msgsOut.Load(), BytesOut: s.bytesOut.Load(),
		Subscriptions: n,
	}
}

// Publish routes m to every matching subscription. It never waits for a
// subscriber. An error return means the message was refused. When m.AckID is
// set and Publish returns nil, the session's Conn.Ack is called exactly once.
// Publish may change m (it clears AckID and the delivery-only fields before
// handing m to subscribers); m is the caller's again when it returns.
func (s *Session) Publish(m *Message) error {
	s.publishing.Add(1)
	defer s.publishing.Add(-1)
	if s.closing.Load() {
		return ErrSessionClosed
	}
	if s.b.draining.Load() {
		return ErrShutdown
	}
	p := s.principal.Load()
	var res *topics.Result[*subscription]
	if perms := p.Permissions; perms != nil {
		allowed := false
		if p.rules != nil && !m.Retain {
			// Match first: the topic's cached result may already say that
			// this rule set allows it. (A retained publish is stored
			// before it is matched.)
			res, _ = s.b.interest.match(s, m.Topic)
			allowed = p.allowsPublish(res, m.Topic)
		}
		if !allowed && !perms.MayPublish(m.Topic) {
			return s.deny("publish to", m.Topic, "")
		}
	}
	s.msgsIn.Add(1)
	s.bytesIn.Add(uint64(len(m.Payload)))
	return s.b.publish(s, m, res)
}

// SubOptions are the options of one subscription.
type SubOptions struct {
	// Queue, when not empty, makes the subscription a member of the queue
	// group of that name on its filter.
	Queue string
	// NoLocal: messages the session publishes itself are not delivered to
	// this subscription (the session's NoEcho does that for all of them).
	NoLocal bool
	// Retained says when the subscription gets the retained messages it
	// matches. Queue-group members never do.
	Retained RetainHandling
}

// RetainHandling says when a new subscription receives the retained
// messages that match it.
type RetainHandling uint8

// Retain handlings.
const (
	RetainSend  RetainHandling = iota // on subscribe
	RetainIfNew                       // only if the session has no subscription with the same filter and queue
	RetainNever                       // never
)

// Subscribe adds subscription sid on filter. Matching retained messages are
// delivered first (as o.Retained says): a live message for the
// subscription that arrives during their replay waits until they are
// queued. If the replay fails, the subscription is removed again and the
// error returned. A session refused more than MaxRefusals SUB or UNSUB
// requests within RefusalWindow is closed (ErrRefusals), and that request
// returns ErrSessionClosed.
func (s *Session) Subscribe(sid uint32, filter string, o SubOptions) error {
	if s.closing.Load() {
		// Being closed (perhaps for its refusals): what is still buffered
		// from the client is read and dropped at no cost.
		return ErrSessionClosed
	}
	queue := o.Queue
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSessionClosed
	}
	errs := &s.b.refusalErrs
	if sid == 0 {
		err := s.refusedLocked(errs.sidZero)
		s.mu.Unlock()
		return err
	}
	// Decided under the lock: a SetPrincipal that stores a new principal
	// after this re-checks (under the lock too) every subscription, this
	// one included.
	ok, filtered := s.principal.Load().maySubscribe(filter, queue)
	if !ok {
		over := s.overRefusedLocked()
		s.mu.Unlock()
		err := s.deny("subscribe to", []byte(filter), queue) // reported outside the lock
		if over {
			return ErrSessionClosed
		}
		return err
	}
	if s.subs.get(sid) != nil {
		err := s.refusedLocked(errs.sidInUse)
		s.mu.Unlock()
		return err
	}
	if s.subs.len() >= s.b.opts.MaxSubscriptions {
		err := s.refusedLocked(errs.maxSubs)
		s.mu.Unlock()
		return err
	}
	if r := &s.refusals; r.filter != "" && r.filter == filter {
		// The same filter again, with no subscription removed since it
		// was refused: refused again without counting overlaps.
		err := s.refusedLocked(errs.perTopic)
		s.mu.Unlock()
		return err
	}
	if n := s.overlapsLocked(filter); n >= s.b.opts.MaxSubscriptionsPerTopic {
		s.refusals.filter = filter
		err := s.refusedLocked(errs.perTopic)
		s.mu.Unlock()
		return err
	}
	// Allocated only once the request is accepted: a refusal allocates
	// nothing here.
	sub := &subscription{sess: s, sid: sid, filter: filter, queue: queue, noLocal: o.NoLocal}
	sub.filtered.Store(filtered)
	// A queue group shares live work; replaying retained messages to every
	// member would hand each of them the same message.
	sub.replaying = queue == "" && o.Retained != RetainNever
	if sub.replaying && o.Retained == RetainIfNew {
		for other := range s.subs.all {
			if other.filter == filter && other.queue == queue {
				sub.replaying = false
				break
			}
		}
	}
	if err := s.b.interest.add(sub); err != nil {
		err = s.refusedLocked(fmt.Errorf("%w: %w", ErrBadTopic, err))
		s.mu.Unlock()
		return err
	}
	s.subs.put(sub)
	s.indexLocked(sub)
	s.mu.Unlock()
	if !sub.replaying {
		return nil
	}
	// The session's lock is taken per message, not for the whole replay,
	// so that a large replay does not stall deliveries to the session's
	// other subscriptions.
	err := s.b.opts.Retained.Match(filter, func(rm RetainedMessage) bool {
		var ttl time.Duration
		if !rm.Expires.IsZero() {
			// Matching skips expired messages: what is left is positive
			// but may round to nothing.
			ttl = max(time.Until(rm.Expires), time.Millisecond)
		}
		s.mu.Lock()
		s.deliverLocked(sub, &Message{
			Topic: []byte(rm.Topic), Header: rm.Header, Payload: rm.Payload,
			Retained: true, Retain: true, TTL: ttl,
		})
		s.mu.Unlock()
		return !s.closing.Load()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	sub.replaying = false
	held := sub.held
	sub.held, sub.heldBytes = nil, 0
	if err != nil {
		// The client is told the SUB failed: it must not stay live.
		s.removeLocked(sub)
		return err
	}
	for i := range held {
		s.deliverLocked(sub, &held[i])
	}
	return nil
}

// Unsubscribe removes subscription sid now (max == 0), or once it has
// delivered max messages in all, counted from its Subscribe (at once if it
// already has).
func (s *Session) Unsubscribe(sid uint32, max uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subs.get(sid)
	if sub == nil {
		return s.refusedLocked(s.b.refusalErrs.sidUnknown)
	}
	if max > 0 {
		sub.max.Store(uint64(max))
		if sub.delivered.Load() < uint64(max) {
			return nil
		}
	}
	s.removeLocked(sub)
	return nil
}

func (s *Session) removeLocked(sub *subscription) {
	if s.subs.get(sub.sid) != sub {
		return
	}
	s.subs.del(sub.sid)
	s.unindexLocked(sub)
	s.b.interest.remove(sub)
}

// overlapsLocked bounds how many of the session's subscriptions one topic
// that filter matches could match too. Literal filters are topics, so a
// topic matches at most one distinct literal: they count with the largest
// number of subscriptions to one literal that filter matches. Wildcard
// filters count when they overlap filter at all (an upper bound, exact for
// the usual few). (Invalid filters are refused later, by the trie.)
func (s *Session) overlapsLocked(filter string) int {
	n := 0
	if topics.IsLiteral(filter) {
		n = s.literals[filter]
	} else {
		for lit, k := range s.literals {
			if k > n && topics.Overlap(filter, lit) {
				if n = k; n == s.maxDup {
					break
				}
			}
		}
	}
	for _, w := range s.wild {
		if topics.Overlap(w.filter, filter) {
			n++
		}
	}
	return n
}

func (s *Session) indexLocked(sub *subscription) {
	if topics.IsLiteral(sub.filter) {
		if s.literals == nil {
			s.literals = make(map[string]int)
		}
		s.literals[sub.filter]++
		s.maxDup = max(s.maxDup, s.literals[sub.filter])
		return
	}
	sub.wildIdx = len(s.wild)
	s.wild = append(s.wild, sub)
}

func (s *Session) unindexLocked(sub *subscription) {
	s.refusals.filter = "" // room may have been made
	if topics.IsLiteral(sub.filter) {
		if s.literals[sub.filter]--; s.literals[sub.filter] <= 0 {
			delete(s.literals, sub.filter)
			if len(s.literals) == 0 {
				s.maxDup = 0
			}
		}
		return
	}
	last := s.wild[len(s.wild)-1]
	s.wild[sub.wildIdx], last.wildIdx = last, sub.wildIdx
	s.wild[len(s.wild)-1] = nil
	s.wild = s.wild[:len(s.wild)-1]
}

// deliver hands m to the session's connection for sub; it reports whether
// it did.
func (s *Session) deliver(sub *subscription, m *Message) bool {
	if s.closing.Load() {
		return false
	}
	s.mu.Lock()
	ok := s.deliverLocked(sub, m)
	s.mu.Unlock()
	return ok
}

func (s *Session) deliverLocked(sub *subscription, m *Message) bool {
	if s.closed || s.subs.get(sub.sid) != sub || (sub.filtered.Load() && !s.mayReceive(m.Topic)) {
		return false
	}
	if sub.replaying && !m.Retained {
		return s.holdLocked(sub, m)
	}
	if max := sub.max.Load(); max > 0 {
		n := sub.delivered.Add(1)
		if n > max {
			return false
		}
		if n == max {
			s.removeLocked(sub)
		}
	} else {
		sub.delivered.Add(1)
	}
	if len(m.Reply) > 0 {
		// Before the message can reach the client: its answer may come
		// back before Deliver returns.
		s.receivedRequest(m.Reply)
	}
	pending, ok := s.conn.Deliver(sub.sid, m)
	if !ok {
		return false
	}
	s.msgsOut.Add(1)
	s.bytesOut.Add(uint64(len(m.Payload)))
	if pending > s.b.opts.MaxPending {
		s.b.slowConsumer(s)
	}
	if pending >= memGranule || s.memHeld.Load() != 0 {
		s.account(pending)
	}
	return true
}

// holdLocked keeps a copy of a live message that arrived while sub's
// retained messages are being replayed. What waits counts against the
// slow-consumer limit like what waits in the connection.
func (s *Session) holdLocked(sub *subscription, m *Message) bool {
	size := len(m.Topic) + len(m.Reply) + len(m.Header) + len(m.Payload)
	sub.heldBytes += size
	if sub.heldBytes > s.b.opts.MaxPending {
		s.b.slowConsumer(s)
		return false
	}
	cp := *m
	buf := make([]byte, 0, size)
	buf = append(buf, m.Topic...)
	buf = append(buf, m.Reply...)
	buf = append(buf, m.Header...)
	buf = append(buf, m.Payload...)
	cp.Topic, buf = buf[:len(m.Topic):len(m.Topic)], buf[len(m.Topic):]
	cp.Reply, buf = buf[:len(m.Reply):len(m.Reply)], buf[len(m.Reply):]
	cp.Header, buf = buf[:len(m.Header):len(m.Header)], buf[len(m.Header):]
	cp.Payload = buf
	sub.held = append(sub.held, cp)
	return true
}

// requestClose asks the adapter to end the session with reason, once.
func (s *Session) requestClose(reason error) bool {
	if s.closing.CompareAndSwap(false, true) {
		s.setReason(reason)
		s.conn.Close(reason)
		return true
	}
	return false
}

// setReason records why the session ends, keeping the first reason, and
// returns the one in force.
func (s *Session) setReason(reason error) error {
	if reason != nil {
		s.reason.CompareAndSwap(nil, &reason)
	}
	if p := s.reason.Load(); p != nil {
		return *p
	}
	return nil
}

// Close ends the session: the adapter calls it once the connection is gone,
// with why it ended (nil for a clean close by the client). Its
// subscriptions are removed, and its will, if it still has one (see
// SetWill), is published. Close is safe to call more than once.
func (s *Session) Close(reason error) {
	s.closing.Store(true)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	reason = s.setReason(reason)
	for sub := range s.subs.all {
		s.removeLocked(sub)
	}
	s.mu.Unlock()
	// The will goes out before the session is reported closed, so that
	// whoever watches the close event finds it already routed.
	if w := s.will.Swap(nil); w != nil {
		s.b.publishWill(s, w)
	}
	s.releaseMemory()
	s.b.unregister(s, reason)
}

// Kick asks the adapter to close the session with reason. An adapter that
// ends a session itself calls it first, so that no more messages are routed
// to it (a queue group picks another member).
func (s *Session) Kick(reason error) { s.requestClose(reason) }

// CheckPending tells the broker how many bytes the session's connection
// holds for the client now: after it queued something on its own (pongs,
// acks, errors), to which the slow-consumer limit applies too (a client that
// makes the broker answer without ever reading is closed like a slow
// subscriber), and after a write, so that the memory budget sees the bytes
// go.
func (s *Session) CheckPending(pending int) {
	if pending > s.b.opts.MaxPending {
		s.b.slowConsumer(s)
	}
	s.account(pending)
}
