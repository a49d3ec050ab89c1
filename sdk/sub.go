package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/msgtrans/msgtrans/topics"
	"github.com/msgtrans/msgtrans/wire"
)

// Subscription is interest in a topic filter. Messages reach either a
// callback (Subscribe, QueueSubscribe), called on the subscription's own
// goroutine one message at a time, or NextMsg (SubscribeSync).
type Subscription struct {
	c     *Conn
	sid   uint32
	Topic string
	Queue string
	cb    func(*Msg)
	flags wire.Flags // SUB flags: no-local, retain handling

	mu        sync.Mutex
	q         []*Msg
	bytes     int
	max       uint64 // auto-unsubscribe after this many messages; 0 = never
	delivered uint64
	closed    bool
	drain     bool  // closed, but hand over what is queued first
	err       error // why it closed
	slow      bool  // dropping; reported once per episode
	ready     chan struct{}
	done      chan struct{} // the callback goroutine has ended (closed at once for sync subs)

	lastTopic string // the topic of the last message received (reader goroutine only)
}

// Subscribe calls cb for each message whose topic matches filter.
func (c *Conn) Subscribe(filter string, cb func(*Msg)) (*Subscription, error) {
	if cb == nil {
		return nil, errors.New("sdk: nil callback")
	}
	return c.subscribe(filter, "", cb)
}

// QueueSubscribe joins queue group queue on filter: each message goes to
// one member of the group.
func (c *Conn) QueueSubscribe(filter, queue string, cb func(*Msg)) (*Subscription, error) {
	if cb == nil {
		return nil, errors.New("sdk: nil callback")
	}
	if err := checkQueue(queue); err != nil {
		return nil, err
	}
	return c.subscribe(filter, queue, cb)
}

// SubscribeSync subscribes to filter; read messages with NextMsg.
func (c *Conn) SubscribeSync(filter string) (*Subscription, error) {
	return c.subscribe(filter, "", nil)
}

// RetainHandling says when a new subscription receives the retained
// messages that match it.
type RetainHandling = wire.RetainHandling

// Retain handlings for SubRetain.
const (
	RetainSend  = wire.RetainSend  // on subscribe (the default)
	RetainIfNew = wire.RetainIfNew // only if the connection has no subscription to the same filter and queue
	RetainNever = wire.RetainNever // never
)

// SubOption sets an option of one subscription.
type SubOption func(*subOptions) error

type subOptions struct {
	queue   string
	noLocal bool
	retain  RetainHandling
}

// SubQueue makes the subscription a member of queue group queue.
func SubQueue(queue string) SubOption {
	return func(o *subOptions) error { o.queue = queue; return checkQueue(queue) }
}

// SubNoLocal keeps this connection's own publishes from this subscription.
func SubNoLocal() SubOption { return func(o *subOptions) error { o.noLocal = true; return nil } }

// SubRetain sets when the subscription receives retained messages.
func SubRetain(h RetainHandling) SubOption {
	return func(o *subOptions) error {
		if h > RetainNever {
			return fmt.Errorf("sdk: retain handling %d", h)
		}
		o.retain = h
		return nil
	}
}

// SubscribeWith subscribes to filter with options; a nil cb makes a
// subscription read with NextMsg.
func (c *Conn) SubscribeWith(filter string, cb func(*Msg), opts ...SubOption) (*Subscription, error) {
	var o subOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return c.subscribeFlags(filter, o.queue, wire.SubFlags(o.noLocal, o.retain), cb)
}

func (c *Conn) subscribe(filter, queue string, cb func(*Msg)) (*Subscription, error) {
	return c.subscribeFlags(filter, queue, 0, cb)
}

func (c *Conn) subscribeFlags(filter, queue string, flags wire.Flags, cb func(*Msg)) (*Subscription, error) {
	if err := badTopic(topics.ValidateFilter(filter)); err != nil {
		return nil, err
	}
	s := &Subscription{c: c, Topic: filter, Queue: queue, cb: cb, flags: flags, ready: make(chan struct{}, 1), done: make(chan struct{})}
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.nextSID++
	s.sid = c.nextSID
	c.subsMu.Lock()
	c.subs[s.sid] = s
	c.subsMu.Unlock()
	if c.state == stateConnected {
		c.wbuf = wire.AppendSubFlags(c.wbuf, flags, s.sid, filter, queue)
	} // else: the reconnect restores it from c.subs
	c.mu.Unlock()
	c.signal()
	if cb != nil {
		go s.dispatch()
	} else {
		close(s.done)
	}
	return s, nil
}

// appendResubscribe encodes what restores this subscription on a new server.
func (s *Subscription) appendResubscribe(b []byte) []byte {
	s.mu.Lock()
	max, delivered := s.max, s.delivered
	s.mu.Unlock()
	b = wire.AppendSubFlags(b, s.flags, s.sid, s.Topic, s.Queue)
	if max > 0 && max > delivered {
		// The new server counts from this SUB: ask for what is still wanted.
		b = wire.AppendUnsub(b, s.sid, uint32(max-delivered))
	}
	return b
}

// Unsubscribe ends the subscription; messages still queued for it are
// dropped.
func (s *Subscription) Unsubscribe() error {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subsMu.Lock()
	_, ok := c.subs[s.sid]
	delete(c.subs, s.sid)
	c.subsMu.Unlock()
	if !ok {
		if c.state == stateClosed {
			return ErrClosed
		}
		return ErrBadSubscription
	}
	if c.state == stateConnected {
		c.wbuf = wire.AppendUnsub(c.wbuf, s.sid, 0)
		c.signal()
	}
	s.close(ErrBadSubscription, false)
	return nil
}

// AutoUnsubscribe ends the subscription by itself after max messages in
// all (counting those already received).
func (s *Subscription) AutoUnsubscribe(max int) error {
	if max <= 0 {
		return errors.New("sdk: auto-unsubscribe count must be positive")
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subsMu.RLock()
	_, ok := c.subs[s.sid]
	c.subsMu.RUnlock()
	if !ok {
		return ErrBadSubscription
	}
	s.mu.Lock()
	s.max = uint64(max)
	left := s.max - min(s.delivered, s.max)
	s.mu.Unlock()
	if left == 0 {
		c.subsMu.Lock()
		delete(c.subs, s.sid)
		c.subsMu.Unlock()
		if c.state == stateConnected {
			c.wbuf = wire.AppendUnsub(c.wbuf, s.sid, 0)
		}
		s.close(nil, true)
	} else if c.state == stateConnected {
		// The broker counts deliveries since the SUB, as we do.
		c.wbuf = wire.AppendUnsub(c.wbuf, s.sid, uint32(max))
	}
	c.signal()
	return nil
}

// Pending returns the messages and bytes waiting in the subscription's queue.
func (s *Subscription) Pending() (msgs, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q), s.bytes
}

// IsValid reports whether the subscription still receives messages.
func (s *Subscription) IsValid() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed
}

// Err returns why the subscription ended: the broker's refusal or
// revocation (a *ServerError: bad filter, permission, limit), ErrClosed
// when the connection closed, ErrBadSubscription after Unsubscribe; nil
// while it is valid, and after it ended by AutoUnsubscribe or Drain.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// NextMsg returns the next message of a SubscribeSync subscription.
func (s *Subscription) NextMsg(ctx context.Context) (*Msg, error) {
	if s.cb != nil {
		return nil, errors.New("sdk: NextMsg on a callback subscription")
	}
	for {
		s.mu.Lock()
		if m := s.popLocked(); m != nil {
			s.mu.Unlock()
			return m, nil
		}
		closed, err := s.closed, s.err
		s.mu.Unlock()
		if closed {
			if err == nil {
				err = ErrBadSubscription
			}
			return nil, err
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// popLocked takes the next message off the queue, dropping the ones whose
// time to live ran out while they waited.
func (s *Subscription) popLocked() *Msg {
	var now time.Time
	for len(s.q) > 0 {
		m := s.q[0]
		s.q[0] = nil
		s.q = s.q[1:]
		s.bytes -= len(m.Data)
		if len(s.q) == 0 {
			s.q = s.q[:0:0]
		}
		if !m.expires.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			if m.expired(now) {
				continue
			}
		}
		return m
	}
	return nil
}

// enqueue is called by the connection's reader for each message.
func (s *Subscription) enqueue(m *Msg) {
	c := s.c
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.max > 0 && s.delivered >= s.max {
		s.mu.Unlock()
		return
	}
	if len(s.q) >= c.opts.SubPendingMsgs || s.bytes+len(m.Data) > c.opts.SubPendingBytes {
		report := !s.slow
		s.slow = true
		s.mu.Unlock()
		if report {
			c.asyncError(s, ErrSlowConsumer)
		}
		return
	}
	s.slow = false
	s.delivered++
	last := s.max > 0 && s.delivered == s.max
	s.q = append(s.q, m)
	s.bytes += len(m.Data)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
	if last {
		c.subsMu.Lock()
		delete(c.subs, s.sid)
		c.subsMu.Unlock()
		s.close(nil, true)
	}
}

// close ends the subscription; with drain, what is queued is still handed
// over.
func (s *Subscription) close(err error, drain bool) {
	s.mu.Lock()
	if !s.closed {
		s.closed, s.drain, s.err = true, drain, err
		if !drain {
			s.q, s.bytes = nil, 0
		}
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// dispatch hands messages to the callback, in order, until the
// subscription closes and its queue is empty.
func (s *Subscription) dispatch() {
	defer close(s.done)
	for {
		s.mu.Lock()
		m := s.popLocked()
		closed := s.closed
		s.mu.Unlock()
		if m != nil {
			s.cb(m)
			continue
		}
		if closed {
			return
		}
		<-s.ready
	}
}
