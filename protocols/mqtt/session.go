package mqtt

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
)

// session is an MQTT session: a broker session (an *sdk.Conn) with the
// client's subscriptions, the QoS 1 and 2 messages on their way to the
// client, and the QoS 2 publishes received from it. It outlives its
// network connection when its expiry interval is not zero.
type session struct {
	srv    *server
	id     string // the client identifier
	user   string // the user name it was opened with; another user cannot resume it
	conn   *sdk.Conn
	expiry atomic.Uint32 // seconds kept after the connection ends; 0: ends with it (read without the lock by changed)
	// brokerWill: conn was opened with the connection's will, which the
	// broker publishes if conn ends without a goodbye (Abort). Otherwise
	// the session publishes the will itself (a session that outlives its
	// connections, whose broker session cannot carry each one's will).
	brokerWill bool

	mu       sync.Mutex
	cl       *client                  // the connected client; nil while offline
	ended    bool                     // finished: out of the registry, its broker session closed
	kept     bool                     // ended, but kept in the store for the next start
	subs     map[string]*subscription // by MQTT filter
	inflight []*outMsg                // sent, not acknowledged, in send order
	queue    []*outMsg                // waiting for room in the window or for the client
	nextID   uint16
	in2      map[uint16]bool // QoS 2 publishes received: true once the broker has them
	inQoS1   int             // QoS 1 publishes waiting for the broker's ack
	will     *sdk.Msg        // a will the session publishes itself; nil: none
	willAt   *time.Timer     // its delay
	willDue  time.Time       // when it is due (kept in the store)
	expire   *time.Timer     // ends an offline session
	replyTok string          // the token of its reply topics (reply.go); "" until the first request
	dropped  uint64          // messages dropped from its full queue, in all
	dropping bool            // dropping now: logged once
}

// outMsg is a QoS 1 or 2 message for the client.
type outMsg struct {
	id       uint16
	qos      packet.QoS
	retain   bool
	topic    []byte
	payload  []byte
	props    *packet.Properties // nil: none
	expires  time.Time          // zero: never
	released bool               // QoS 2: PUBREC received, PUBREL sent
	sent     bool               // sent at least once: a resend has DUP
}

// end reasons.
type endReason int

const (
	endNormal   endReason = iota // DISCONNECT, or an expired session: no will
	endLost                      // the connection was lost or refused: the will is due
	endTakeover                  // another connection took the client identifier
	endShutdown                  // the protocol is stopping
	endBroker                    // the broker ended the broker session (not by stopping)
)

// deliver hands a message of one of the session's subscriptions to the
// client: at once at QoS 0 (dropped while offline, as MQTT allows), or
// into the in-flight window or the queue at QoS 1 and 2.
func (s *session) deliver(ns *nativeSub, m *sdk.Msg) {
	sub := ns.sub
	qos := min(sub.qos, msgQoS(m))
	topic, ok := ns.mqttTopic(m.Topic)
	if !ok {
		return // no MQTT form: counted by mqttTopic
	}
	retain := m.Retain || sub.rap && m.RetainFlag
	if qos == 0 {
		s.mu.Lock()
		cl := s.cl
		s.mu.Unlock()
		if cl != nil {
			cl.sendQoS0(ns, topic, m, retain)
		}
		return
	}
	om := &outMsg{qos: qos, retain: retain, topic: topic, payload: m.Data} // topic: read only (mqttTopic)
	om.props = outProps(m, sub.id)
	if m.TTL > 0 {
		om.expires = time.Now().Add(m.TTL)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended && !s.kept {
		return // a session kept for the next start still takes what was routed to it
	}
	s.queue = append(s.queue, om)
	if over := len(s.queue) - s.srv.cfg.maxQueued; over > 0 && (s.cl == nil || len(s.inflight) >= s.cl.sendQuota) {
		clear(s.queue[:over])
		s.queue = s.queue[over:]
		s.srv.dropped.Add(uint64(over))
		s.dropped += uint64(over)
		if !s.dropping {
			// Once per episode: until the client is back, or the queue has room.
			s.dropping = true
			s.srv.log.Warn("session queue full: oldest QoS 1/2 messages dropped (mqtt max_queued)",
				"client", s.id, "max_queued", s.srv.cfg.maxQueued, "dropped_total", s.dropped)
		}
	} else {
		s.dropping = false
	}
	s.pumpLocked()
	s.changed()
}

// pumpLocked moves queued messages into the in-flight window and sends
// them, while the client is connected and the window has room.
func (s *session) pumpLocked() {
	cl := s.cl
	if cl == nil {
		return
	}
	now := time.Time{}
	for len(s.queue) > 0 && len(s.inflight) < cl.sendQuota {
		om := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		if !om.expires.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			if now.After(om.expires) {
				continue
			}
		}
		om.id = s.newIDLocked()
		if !cl.sendOut(om, now) {
			continue // larger than the client accepts: dropped, as 5.0 says
		}
		s.inflight = append(s.inflight, om)
	}
	if len(s.queue) == 0 {
		s.queue = nil
	}
}

// newIDLocked returns a packet identifier not in flight.
func (s *session) newIDLocked() uint16 {
	for {
		s.nextID++
		if s.nextID == 0 {
			continue
		}
		if s.findLocked(s.nextID) < 0 {
			return s.nextID
		}
	}
}

func (s *session) findLocked(id uint16) int {
	for i, om := range s.inflight {
		if om.id == id {
			return i
		}
	}
	return -1
}

// acked handles PUBACK and PUBCOMP (and a PUBREC with a failure code): the
// message is done, and the window has room for the next.
func (s *session) acked(id uint16, t packet.Type) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.findLocked(id)
	if i < 0 {
		return false
	}
	om := s.inflight[i]
	if t == packet.TypePuback && om.qos != 1 || t == packet.TypePubcomp && !om.released {
		return false
	}
	if i == 0 {
		// Acknowledgements mostly come in order: drop the head rather
		// than move the whole window down.
		s.inflight[0] = nil
		s.inflight = s.inflight[1:]
	} else {
		s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
	}
	s.pumpLocked()
	s.changed()
	return true
}

// received handles a successful PUBREC: the message is released, and
// PUBREL goes out (again, after a reconnect, until PUBCOMP).
func (s *session) received(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.findLocked(id)
	if i < 0 || s.inflight[i].qos != 2 {
		return false
	}
	s.inflight[i].released = true
	s.changed()
	if s.cl != nil {
		s.cl.sendAck(packet.TypePubrel, id, packet.Success)
	}
	return true
}

// attach makes cl the session's connection: what was in flight is sent
// again (DUP) or released again, then the queue is sent. The caller has
// queued the CONNACK.
func (s *session) attachLocked(cl *client) {
	s.cl = cl
	if s.expire != nil {
		s.expire.Stop()
		s.expire = nil
	}
	if s.willAt != nil {
		// Back before the will delay ran out: no will ([MQTT-3.1.3-9]).
		s.willAt.Stop()
		s.willAt, s.will = nil, nil
	}
	now := time.Now()
	kept := s.inflight[:0]
	for _, om := range s.inflight {
		if om.released {
			cl.sendAck(packet.TypePubrel, om.id, packet.Success)
			kept = append(kept, om)
		} else if (om.expires.IsZero() || now.Before(om.expires)) && cl.sendOut(om, now) {
			kept = append(kept, om)
		}
	}
	clear(s.inflight[len(kept):])
	s.inflight = kept
	s.pumpLocked()
	s.changed()
}

// detach is called when cl's connection has ended for reason, with the
// will it left (nil: none or discarded). A session with an expiry is kept
// and its will published after the will delay; the others end.
func (s *session) detach(cl *client, reason endReason, will *sdk.Msg, willDelay time.Duration) {
	s.mu.Lock()
	if s.cl != cl || s.ended {
		s.mu.Unlock()
		return
	}
	s.cl = nil
	if s.expiry.Load() == 0 || reason == endBroker || reason == endShutdown {
		s.mu.Unlock()
		s.finish(reason, will)
		return
	}
	if will != nil {
		delay := min(willDelay, time.Duration(s.expiry.Load())*time.Second)
		s.will, s.willDue = will, time.Now().Add(delay)
		s.willAt = time.AfterFunc(delay, func() { s.publishWill() })
	}
	s.expire = time.AfterFunc(time.Duration(s.expiry.Load())*time.Second, func() { s.expired() })
	s.changed()
	s.mu.Unlock()
}

// publishWill publishes the will the session keeps, if it is still due.
func (s *session) publishWill() {
	s.mu.Lock()
	w := s.will
	s.will, s.willAt = nil, nil
	conn := s.conn
	s.mu.Unlock()
	if w != nil && conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := conn.PublishAck(ctx, w); err != nil {
			s.srv.log.Warn("will not published", "client", s.id, "err", err)
		}
	}
}

// expired ends an offline session whose expiry interval has passed; a
// will still waiting for its delay goes out now ([MQTT-3.1.3-9]).
func (s *session) expired() {
	s.mu.Lock()
	if s.cl != nil || s.ended {
		s.mu.Unlock()
		return
	}
	if s.willAt != nil {
		s.willAt.Stop()
	}
	w := s.will
	s.will, s.willAt = nil, nil
	s.mu.Unlock()
	s.finish(endNormal, w)
}

// finish ends the session: it leaves the registry, its will (if any) is
// published, and its broker session closes.
func (s *session) finish(reason endReason, will *sdk.Msg) {
	s.mu.Lock()
	conn, ended := s.conn, s.ended
	s.mu.Unlock()
	if reason == endShutdown && !ended && conn != nil && s.expiry.Load() > 0 {
		// Stopping: what the broker already routed to the session is handed
		// to it (queued) before it is saved for the next start.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn.Drain(ctx)
		cancel()
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	// Stopping, the session stays on disk for the next start; ended by the
	// broker otherwise (a slow consumer), its broker session and
	// subscriptions are gone, and so is it.
	keep := reason == endShutdown
	s.kept = keep
	if s.expire != nil {
		s.expire.Stop()
	}
	if s.willAt != nil {
		s.willAt.Stop()
		if will == nil {
			will = s.will // a takeover that ends a session whose will waits
		}
	}
	if !keep {
		s.queue, s.inflight = nil, nil
	}
	s.mu.Unlock()
	if keep {
		s.changed() // its last state, for the store's final commit
	}
	s.srv.forget(s, keep)
	if conn == nil {
		return // restored, and never woken: no broker session
	}
	switch {
	case reason == endShutdown || reason == endBroker || reason == endNormal && will == nil:
		s.conn.Close()
	case s.brokerWill && will != nil:
		s.conn.Abort() // the broker publishes the will it holds, after its delay
	default:
		if will != nil {
			s.mu.Lock()
			s.will = will
			s.mu.Unlock()
			s.publishWill()
		}
		s.conn.Close()
	}
}

// end ends the session and its connection, if any, for reason.
func (s *session) end(reason endReason) {
	s.mu.Lock()
	cl := s.cl
	s.mu.Unlock()
	if cl != nil {
		code := packet.ServerShuttingDown
		if reason == endTakeover {
			code = packet.SessionTakenOver
		}
		cl.kick(code)
	}
	s.finish(reason, nil)
}

// forget removes s from the registry if it is still there, and from the
// store unless keep: the protocol is stopping, or the broker ended the
// broker session, and the session is to be there at the next start.
func (srv *server) forget(s *session, keep bool) {
	srv.mu.Lock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
		if srv.store != nil && !keep {
			srv.store.forget(s.id)
		}
	}
	srv.mu.Unlock()
}

// stored calls fn once the session is written, or at once if it does not
// persist.
func (s *session) stored(fn func()) {
	if s.srv.store != nil && s.expiry.Load() > 0 {
		s.srv.store.markThen(s, fn)
		return
	}
	fn()
}

// changed has the store write the session, if it persists.
func (s *session) changed() {
	if s.srv.store != nil && s.expiry.Load() > 0 {
		s.srv.store.mark(s)
	}
}
