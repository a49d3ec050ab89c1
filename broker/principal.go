package broker

import (
	"crypto/tls"
	"fmt"

	"github.com/msgtrans/msgtrans/topics"
)

// Peer is how a session's connection arrived, as its transport saw it: what
// an Authenticator may base its decision on besides the credentials.
type Peer struct {
	Protocol   string // "tcp", "tls", "ws", "wss", "quic", "inproc", or a plugin's name
	RemoteAddr string
	// TLS is the connection's TLS state, with the client's certificates
	// when it presented any; nil for a connection without TLS (and for
	// plugin sessions, whose TLS, if any, ends in the plugin).
	TLS *tls.ConnectionState
}

// Principal is who a session acts as: the identity its credentials proved,
// and what it may do.
type Principal struct {
	User string
	// Permissions decides what the session may publish, subscribe to and
	// receive; nil allows everything.
	Permissions Permissions

	// Set by the broker when the session takes the principal (withRules):
	// Permissions, when they implement PublishRules.
	rules PublishRules
}

// Permissions is the broker's one question to an authorizer. The session
// asks it on every publish, every subscribe, and for each message (retained
// ones included) to a subscription that MaySubscribe marked filtered.
// Implementations must be safe for concurrent use and must not keep the
// byte slices they are given.
type Permissions interface {
	// MayPublish reports whether the session may publish to topic. It is
	// on the publish path: it should not allocate.
	MayPublish(topic []byte) bool
	// MaySubscribe decides a subscription to filter (in queue group queue
	// when not empty). filtered asks for MayReceive on each message: a
	// filter such as ">" may be allowed while some topics it matches are
	// not.
	MaySubscribe(filter, queue string) (ok, filtered bool)
	// MayReceive reports whether a message on topic may be delivered to a
	// filtered subscription.
	MayReceive(topic []byte) bool
}

// Responder is implemented by Permissions that let a session answer the
// requests it receives (NATS's allow_responses): Received is told the
// reply topic of every message delivered to the session, so that
// MayPublish can allow a publish to it. It is called with the session's
// lock held and must not block; it must not keep reply.
type Responder interface {
	Received(reply []byte)
}

// PublishRules is implemented by Permissions whose publish decision comes
// from a rule set that sessions share (one per user, say) and depends on
// the topic alone. The broker then keeps "this rule set allows this topic"
// with the topic's cached match result (topics.Result.Memo), so that a
// publish to a topic it has matched before costs a compare, not a second
// lookup by topic.
type PublishRules interface {
	// PublishRuleSet identifies the session's rule set now: sessions
	// whose values are equal get the same answers. It must be comparable
	// (a pointer), or nil for a set without publish rules (everything may
	// be published).
	PublishRuleSet() any
	// RulesAllowPublish is the answer of the session's rule set now (set,
	// as PublishRuleSet would name it) for topic, without what the session
	// may have earned of its own (Responder's replies): when ok is false,
	// MayPublish still decides.
	RulesAllowPublish(topic []byte) (set any, ok bool)
	// Retired reports whether set, a value PublishRuleSet returned, is no
	// longer in force for anyone (a reload replaced it), so that the
	// memos that name it may be taken over.
	Retired(set any) bool
}

// withRules returns p ready for a session to take: whether its
// Permissions have publish rules is found once, not at every publish.
func (p Principal) withRules() *Principal {
	p.rules, _ = p.Permissions.(PublishRules)
	return &p
}

// allowsPublish reports whether p's rule set allows publishing to topic,
// from the memo kept with the topic's match result res when it has one;
// res is nil for a topic that did not match (an invalid one). Called only
// when p.rules is set.
func (p *Principal) allowsPublish(res *topics.Result[*subscription], topic []byte) bool {
	key := p.rules.PublishRuleSet()
	if key == nil {
		return true
	}
	var old *topics.Memo
	if res != nil {
		if old = res.Memo.Load(); old != nil && old.Key == key {
			return true
		}
	}
	set, ok := p.rules.RulesAllowPublish(topic)
	if !ok {
		return false
	}
	// One memo per result: the first rule set keeps it, so that users
	// with different rules publishing to one topic do not take turns
	// writing to a line every core reads; a reload frees it.
	if set != nil && res != nil && !res.Empty() && (old == nil || p.rules.Retired(old.Key)) {
		res.Memo.CompareAndSwap(old, &topics.Memo{Key: set})
	}
	return true
}

// The publish check is written out in Session.Publish, on the hot path.

// Principal returns the principal the session acts as now.
func (s *Session) Principal() Principal { return *s.principal.Load() }

// SetPrincipal replaces the session's principal (a reload of users and
// permissions) atomically: publishes from now on are checked against p, and
// every subscription is checked again. A subscription p no longer allows
// is removed, and the session's Conn is told with Revoke.
func (s *Session) SetPrincipal(p Principal) {
	s.principal.Store(p.withRules())
	var revoked []*subscription
	s.mu.Lock()
	for sub := range s.subs.all {
		ok, filtered := p.maySubscribe(sub.filter, sub.queue)
		if !ok {
			s.removeLocked(sub)
			revoked = append(revoked, sub)
			continue
		}
		sub.filtered.Store(filtered)
	}
	s.mu.Unlock()
	for _, sub := range revoked {
		s.conn.Revoke(sub.sid, s.deny("subscribe to", []byte(sub.filter), sub.queue))
	}
}

func (p *Principal) maySubscribe(filter, queue string) (ok, filtered bool) {
	if p.Permissions == nil {
		return true, false
	}
	return p.Permissions.MaySubscribe(filter, queue)
}

// receivedRequest tells the session's Permissions, if they track replies,
// that a message with reply topic reply was delivered.
func (s *Session) receivedRequest(reply []byte) {
	if r, ok := s.principal.Load().Permissions.(Responder); ok {
		r.Received(reply)
	}
}

// mayReceive is asked, for a filtered subscription, before each delivery.
func (s *Session) mayReceive(topic []byte) bool {
	perms := s.principal.Load().Permissions
	return perms == nil || perms.MayReceive(topic)
}

func permissionErr(op, topic, queue string) error {
	if queue != "" {
		return fmt.Errorf("%w: %s %q in queue group %q", ErrPermission, op, topic, queue)
	}
	return fmt.Errorf("%w: %s %q", ErrPermission, op, topic)
}
