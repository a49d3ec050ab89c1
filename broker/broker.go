// Package broker is the core of msgtrans: sessions, routing through the topic
// trie, queue groups, request-reply, retained messages, limits, stats,
// lifecycle events and graceful drain. Protocol adapters drive it through
// Connect and the Session methods, and receive deliveries through the Conn
// they pass in; the broker never blocks on a network write.
package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/topics"
)

// Broker routes messages between sessions. Create one with New.
type Broker struct {
	opts        Options
	refusalErrs refusalErrs // built once: a refusal formats nothing (refusals.go)
	id          string
	interest    *interest
	slow        atomic.Uint64 // sessions closed as slow consumers
	authFail    atomic.Uint64 // sessions refused by the Authenticator
	denials     atomic.Uint64 // operations refused by a session's Permissions
	storeErrors atomic.Uint64 // retained publishes the store failed to keep
	wills       wills

	// The memory budget (memory.go).
	memHeld    atomic.Int64 // sessions' held output, in memGranule steps
	memSources atomic.Pointer[memSources]
	reclaiming atomic.Bool

	draining atomic.Bool
	nextID   atomic.Uint64

	mu       sync.Mutex
	sessions map[uint64]*Session
	byProto  map[string]int
	closed   bool
	empty    chan struct{} // closed when the last session leaves during a drain
	total    uint64        // sessions ever opened
	gone     SessionStats  // counters of sessions that have closed
	// Per protocol: sessions ever opened, and the counters of those that
	// have closed, so that totals by protocol survive their sessions.
	totalBy map[string]uint64
	goneBy  map[string]SessionStats
}

// New returns a broker with the given options.
func New(opts Options) (*Broker, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	var rb [8]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return nil, fmt.Errorf("broker: server id: %w", err)
	}
	return &Broker{
		opts:        opts,
		refusalErrs: newRefusalErrs(&opts),
		id:          hex.EncodeToString(rb[:]),
		interest:    newInterest(),
		sessions:    make(map[uint64]*Session),
		byProto:     make(map[string]int),
		totalBy:     make(map[string]uint64),
		goneBy:      make(map[string]SessionStats),
	}, nil
}

// ID returns the broker's random identity, fixed for its lifetime.
func (b *Broker) ID() string { return b.id }

// Options returns the options in force, defaults filled in.
func (b *Broker) Options() Options { return b.opts }

// Connect opens a session for a client that presented cred. info.Peer
// describes its connection; info.ID, info.User and info.Opened are set by
// the broker. The Authenticator, if any, decides the session's principal.
func (b *Broker) Connect(info SessionInfo, cred Credentials, conn Conn) (*Session, error) {
	if conn == nil {
		return nil, errNilConn
	}
	p := Principal{User: cred.User}
	if b.opts.Authenticator != nil {
		var err error
		if p, err = b.opts.Authenticator.Authenticate(info, cred); err != nil {
			b.authFail.Add(1)
			failed := info
			failed.User = cred.User
			b.emit(Event{Kind: AuthFailed, Session: failed, Reason: err})
			b.sysEvent(SysAuthFailed, info, cred.User, err)
			return nil, err
		}
	}
	info.User = p.User
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return nil, ErrClosed
	case b.draining.Load():
		b.mu.Unlock()
		return nil, ErrShutdown
	case len(b.sessions) >= b.opts.MaxConnections:
		b.mu.Unlock()
		return nil, fmt.Errorf("%w: limit is %d", ErrMaxConnections, b.opts.MaxConnections)
	case b.overBudget():
		b.mu.Unlock()
		return nil, fmt.Errorf("%w: the broker's memory budget (%d bytes) is used up", ErrMaxConnections, b.opts.MaxMemory)
	}
	info.ID = b.nextID.Add(1)
	info.Opened = time.Now()
	s := &Session{b: b, info: info, conn: conn}
	s.principal.Store(p.withRules())
	b.sessions[info.ID] = s
	b.byProto[info.Protocol]++
	b.totalBy[info.Protocol]++
	b.total++
	b.mu.Unlock()
	b.emit(Event{Kind: SessionOpened, Session: info})
	b.sysEvent(SysConnOpened, info, info.User, nil)
	return s, nil
}

func (b *Broker) unregister(s *Session, reason error) {
	st := s.Stats()
	b.mu.Lock()
	if _, ok := b.sessions[s.info.ID]; ok {
		delete(b.sessions, s.info.ID)
		if b.byProto[s.info.Protocol]--; b.byProto[s.info.Protocol] == 0 {
			delete(b.byProto, s.info.Protocol)
		}
		b.gone.MsgsIn += st.MsgsIn
		b.gone.BytesIn += st.BytesIn
		b.gone.MsgsOut += st.MsgsOut
		b.gone.BytesOut += st.BytesOut
		g := b.goneBy[s.info.Protocol]
		g.MsgsIn += st.MsgsIn
		g.BytesIn += st.BytesIn
		g.MsgsOut += st.MsgsOut
		g.BytesOut += st.BytesOut
		b.goneBy[s.info.Protocol] = g
		if len(b.sessions) == 0 && b.empty != nil {
			close(b.empty)
			b.empty = nil
		}
	}
	b.mu.Unlock()
	b.emit(Event{Kind: SessionClosed, Session: s.info, Reason: reason, Stats: st})
	b.sessionEnded(s.info, reason)
}

// slowConsumer closes s as a slow consumer. It is called with s.mu held, so
// it takes no broker lock (the broker's lock is taken before sessions' when
// walking them).
func (b *Broker) slowConsumer(s *Session) {
	// Counted once, by whoever closes it: the delivery path and the
	// writer's report may both find it over the limit.
	if s.requestClose(fmt.Errorf("%w: more than %d bytes pending", ErrSlowConsumer, b.opts.MaxPending)) {
		b.slow.Add(1)
	}
}

// publish routes m, which it may change: subscribers get m itself (no copy
// per publish), so the publisher's ack id and the delivery-only fields are
// cleared first.
func (b *Broker) publish(from *Session, m *Message, res *topics.Result[*subscription]) error {
	ackID := m.AckID
	m.AckID, m.Retained, m.NoResponders, m.Origin = 0, false, false, ""

	if len(m.Payload) > b.opts.MaxPayload {
		return fmt.Errorf("%w: %d bytes, limit is %d", ErrPayloadTooLarge, len(m.Payload), b.opts.MaxPayload)
	}
	if len(m.Reply) > 0 {
		if err := topics.ValidatePublishBytes(m.Reply); err != nil {
			return fmt.Errorf("%w: reply: %w", ErrBadTopic, err)
		}
	}
	if m.Retain {
		// Store first, then match: a subscription made in between finds the
		// message in the store, one made after gets it live (or both: a
		// duplicate, never a loss).
		if err := topics.ValidatePublishBytes(m.Topic); err != nil {
			return fmt.Errorf("%w: %w", ErrBadTopic, err)
		}
		rm := RetainedMessage{Topic: string(m.Topic), Header: m.Header, Payload: m.Payload}
		if m.TTL > 0 {
			rm.Expires = time.Now().Add(m.TTL)
		}
		info := from.info
		// The ack waits for the store and, clustered, for the forwards.
		join := b.ackJoin(from, ackID, 2)
		done := func(err error) {
			if err != nil {
				if !errors.Is(err, ErrStore) {
					err = fmt.Errorf("%w: %w", ErrStore, err)
				}
				err = fmt.Errorf("retained %q not stored: %w", rm.Topic, err)
				// Counted and reported even without an ack id: a disk
				// that fills up must not drop retained messages in silence.
				b.storeErrors.Add(1)
				b.emit(Event{Kind: StoreFailed, Session: info, Reason: err})
				if join == nil {
					from.conn.Ack(0, err) // a non-fatal error to the client
					return
				}
			}
			if join != nil {
				join.done(err)
			}
		}
		if err := b.opts.Retained.Set(rm, done); err != nil {
			return err
		}
		if len(m.Payload) > 0 {
			// An empty retained publish only deletes the retained message.
			b.interest.route(from, m, nil, join)
		}
		if join != nil {
			join.done(nil) // routed
		}
		return nil
	}
	var join *ackJoin
	if fw := b.interest.fwd.Load(); fw != nil && fw.af != nil {
		// Clustered: the ack waits for the forwards (a single node acks
		// at once, without allocating).
		join = b.ackJoin(from, ackID, 1)
	}
	var n int
	var err error
	if res != nil {
		n = b.interest.routeMatched(from, m, res, nil, join)
	} else {
		n, err = b.interest.route(from, m, nil, join)
	}
	if err != nil {
		// Refused before anything was forwarded: no ack, the error answers.
		return fmt.Errorf("%w: %w", ErrBadTopic, err)
	}
	if n == 0 && len(m.Reply) > 0 {
		b.interest.noResponders(from, m.Reply)
	}
	switch {
	case join != nil:
		join.done(nil) // routed; forwards may still be on their way
	case ackID != 0:
		from.conn.Ack(ackID, nil)
	}
	return nil
}

// ackJoin returns the join that acks publish ackID of from once parts have
// answered and every forward to another node has been accepted, or nil
// when there is no ack to give.
func (b *Broker) ackJoin(from *Session, ackID uint64, parts int32) *ackJoin {
	if ackID == 0 {
		return nil
	}
	conn := from.conn
	return newAckJoin(parts, func(err error) { conn.Ack(ackID, err) })
}

// WatchInterest tells l of every (filter, queue group) that has subscribers
// now, then of every change until the returned stop function is called.
func (b *Broker) WatchInterest(l InterestListener) (stop func()) { return b.interest.watch(l) }

// Interest lists every (filter, queue group) that has subscribers on this
// broker.
func (b *Broker) Interest() []Interest { return b.interest.localInterest() }

// Shutdown drains the broker gracefully: new sessions and publishes are
// refused with ErrShutdown, publishes already being routed finish, and every
// session is asked to flush what it has queued and close. Shutdown returns
// when all sessions are gone, or with ctx's error at ctx's deadline, in which
// case the adapters force the remaining connections closed when they stop.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.draining.Store(true)
	b.mu.Lock()
	sessions := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	var empty chan struct{}
	if len(b.sessions) > 0 {
		if b.empty == nil {
			b.empty = make(chan struct{})
		}
		empty = b.empty
	}
	b.mu.Unlock()

	// Phase 1: wait until no session is in the middle of a publish, so that
	// everything accepted is queued somewhere before anyone is closed.
	for _, s := range sessions {
		for s.publishing.Load() > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	// Phase 2: flush and close. Wills still waiting for their delay go
	// out now, while their subscribers are still connected.
	b.flushWills(true)
	for _, s := range sessions {
		s.requestClose(ErrShutdown)
	}
	if empty == nil {
		return nil
	}
	select {
	case <-empty:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the broker at once: every session is asked to close, new
// sessions are refused with ErrClosed, and the retained store is closed.
func (b *Broker) Close() error {
	b.draining.Store(true)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.flushWills(false)
	sessions := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	b.mu.Unlock()
	for _, s := range sessions {
		s.requestClose(ErrShutdown)
	}
	return b.opts.Retained.Close()
}

// Session returns the open session with the given id.
func (b *Broker) Session(id uint64) (*Session, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.sessions[id]
	return s, ok
}
