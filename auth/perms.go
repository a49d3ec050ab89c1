package auth

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

// permSet is one Permissions section compiled for fast checks. It is
// immutable and shared by every session of the users it applies to.
type permSet struct {
	pubAllow *trie // nil: everything not denied
	pubDeny  *trie // nil: nothing denied
	subAllow []rule
	subAll   bool // no subscribe allow list: everything not denied
	subDeny  []rule
	recvDeny *trie // the subscribe deny rules without a queue group, for filtered subscriptions
	resp     Responses

	pubCache decisions
	// retired is set when a reload puts another authorizer, with sets of
	// its own, in force (broker.PublishRules.Retired).
	retired atomic.Bool
}

func compile(p *Permissions) *permSet {
	ps := &permSet{subAll: true}
	ps.pubCache.seed = maphash.MakeSeed()
	if p == nil {
		return ps
	}
	ps.pubAllow = buildTrie(p.Publish.Allow)
	ps.pubDeny = buildTrie(p.Publish.Deny)
	ps.subAll = p.Subscribe.Allow == nil
	for _, s := range p.Subscribe.Allow {
		ps.subAllow = append(ps.subAllow, parseRule(s))
	}
	for _, s := range p.Subscribe.Deny {
		r := parseRule(s)
		ps.subDeny = append(ps.subDeny, r)
		if r.queue == nil {
			if ps.recvDeny == nil {
				ps.recvDeny = &trie{}
			}
			ps.recvDeny.add(r.toks)
		}
	}
	if p.AllowResponses != nil {
		ps.resp = *p.AllowResponses
	}
	return ps
}

// buildTrie returns nil for no list (nothing to check), and a trie that
// matches nothing for an empty one: "allow: []" allows nothing.
func buildTrie(list []string) *trie {
	if list == nil {
		return nil
	}
	t := &trie{}
	for _, s := range list {
		t.add(parseRule(s).toks)
	}
	return t
}

// mayPublish applies the publish rules alone (not allow_responses).
func (ps *permSet) mayPublish(topic []byte) bool {
	if ps.pubAllow == nil && ps.pubDeny == nil {
		return true
	}
	return ps.decide(topic).ok
}

// decide returns the cached decision for topic, making it on a miss.
func (ps *permSet) decide(topic []byte) *decision {
	if d := ps.pubCache.get(topic); d != nil {
		return d
	}
	ok := (ps.pubDeny == nil || !ps.pubDeny.match(topic, true)) &&
		(ps.pubAllow == nil || ps.pubAllow.match(topic, false))
	return ps.pubCache.put(topic, ok, ps)
}

func (ps *permSet) denied(topic []byte) bool {
	return ps.pubDeny != nil && ps.pubDeny.match(topic, true)
}

// maySubscribe: a deny rule that covers the whole filter refuses it, one
// that overlaps it makes the subscription filtered (each message is checked
// with mayReceive); the filter must lie within an allow rule when there
// are any. A deny rule limited to a queue group refuses a subscription in
// that group whose filter it overlaps at all, since a delivery is checked
// without its group.
func (ps *permSet) maySubscribe(filter, queue string) (ok, filtered bool) {
	f := strings.Split(filter, ".")
	for _, r := range ps.subDeny {
		if r.queue != nil {
			if queue != "" && queueMatches(r.queue, queue) && intersects(f, r.toks) {
				return false, false
			}
			continue
		}
		if subset(f, r.toks, true) {
			return false, false
		}
		if intersects(f, r.toks) {
			filtered = true
		}
	}
	if ps.subAll {
		return true, filtered
	}
	for _, r := range ps.subAllow {
		if r.queue != nil && (queue == "" || !queueMatches(r.queue, queue)) {
			continue
		}
		if subset(f, r.toks, false) {
			return true, filtered
		}
	}
	return false, false
}

func (ps *permSet) mayReceive(topic []byte) bool {
	return ps.recvDeny == nil || !ps.recvDeny.match(topic, true)
}

// identity is how a session authenticated, so that a reload can decide
// whether it still may stay, and as whom.
type identity struct {
	kind  kind
	user  string
	token string // the token in force when a token client logged in
}

type kind uint8

const (
	anonymous kind = iota
	byToken
	byPassword
	byCertificate
)

// sessionPerms are one session's broker.Permissions. The rule set is
// looked up again whenever the authorizer in force changes (a reload), so
// that a session gets its new permissions even if it registered with the
// broker just after the reload went over the open sessions.
type sessionPerms struct {
	live *Live // nil for an Authorizer used on its own: the set is fixed
	id   identity
	res  atomic.Pointer[resolved]
	resp replies
	// last is the decision of the session's latest publish (it names its
	// rule set): a client that publishes to one topic again and again, the
	// usual case, costs a compare instead of a hash lookup.
	last atomic.Pointer[decision]
}

type resolved struct {
	a   *Authorizer
	set *permSet
}

var (
	_ broker.Permissions  = (*sessionPerms)(nil)
	_ broker.Responder    = (*sessionPerms)(nil)
	_ broker.PublishRules = (*sessionPerms)(nil)
)

// PublishRuleSet implements broker.PublishRules: the session's rule set, or
// nil when it has no publish rules.
func (p *sessionPerms) PublishRuleSet() any {
	set := p.rules()
	if set.pubAllow == nil && set.pubDeny == nil {
		return nil
	}
	return set
}

// RulesAllowPublish implements broker.PublishRules.
func (p *sessionPerms) RulesAllowPublish(topic []byte) (any, bool) {
	set := p.rules()
	if set.pubAllow == nil && set.pubDeny == nil {
		return nil, true
	}
	return set, set.decide(topic).ok
}

// Retired implements broker.PublishRules.
func (p *sessionPerms) Retired(set any) bool {
	ps, ok := set.(*permSet)
	return ok && ps.retired.Load()
}

// rules returns the rule set in force for the session.
func (p *sessionPerms) rules() *permSet {
	r := p.res.Load()
	if p.live == nil {
		return r.set
	}
	a := p.live.cur.Load()
	if r.a == a {
		return r.set
	}
	nr := &resolved{a: a, set: a.setFor(p.id)}
	p.res.Store(nr)
	return nr.set
}

func (p *sessionPerms) MayPublish(topic []byte) bool {
	set := p.rules()
	if set.pubAllow == nil && set.pubDeny == nil {
		return true
	}
	d := p.last.Load()
	if d == nil || d.set != set || d.topic != string(topic) {
		d = set.decide(topic)
		p.last.Store(d)
	}
	if d.ok {
		return true
	}
	// Deny wins over allow_responses too: an operator who denies a topic
	// means it.
	return set.resp.Max > 0 && !set.denied(topic) && p.resp.use(topic, time.Now())
}

func (p *sessionPerms) MaySubscribe(filter, queue string) (bool, bool) {
	return p.rules().maySubscribe(filter, queue)
}

func (p *sessionPerms) MayReceive(topic []byte) bool { return p.rules().mayReceive(topic) }

// Received implements broker.Responder.
func (p *sessionPerms) Received(reply []byte) {
	if set := p.rules(); set.resp.Max > 0 && !set.mayPublish(reply) {
		p.resp.add(reply, set.resp, time.Now())
	}
}

// maxReplies bounds the reply topics one session may hold permission for:
// a session that receives requests faster than it answers them loses the
// oldest permissions first, instead of growing without limit.
const maxReplies = 1024

// replies are the reply topics a session may publish to under
// allow_responses, each with its remaining count and deadline.
type replies struct {
	mu    sync.Mutex
	m     map[string]*reply
	order []string // insertion order, for expiry and eviction; may hold stale keys
}

type reply struct {
	left     int
	deadline time.Time
}

// add allows lim.Max replies to topic until lim.Expires from now.
func (r *replies) add(topic []byte, lim Responses, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[string(topic)]; ok {
		e.left, e.deadline = lim.Max, now.Add(lim.Expires)
		return
	}
	if r.m == nil {
		r.m = map[string]*reply{}
	}
	r.pruneLocked(now)
	key := string(topic)
	r.m[key] = &reply{left: lim.Max, deadline: now.Add(lim.Expires)}
	r.order = append(r.order, key)
}

// pruneLocked drops expired entries from the front, and the oldest ones
// while the table is full.
func (r *replies) pruneLocked(now time.Time) {
	i := 0
	for ; i < len(r.order); i++ {
		k := r.order[i]
		e, ok := r.m[k]
		if ok && now.Before(e.deadline) && len(r.m) < maxReplies {
			break
		}
		delete(r.m, k)
	}
	if i > 0 {
		r.order = append(r.order[:0], r.order[i:]...)
	}
	if len(r.order) > 2*maxReplies {
		// Answered replies leave stale keys behind a live one: keep the
		// last occurrence of each key still held.
		keep := make([]string, 0, len(r.m))
		seen := make(map[string]bool, len(r.m))
		for j := len(r.order) - 1; j >= 0; j-- {
			if k := r.order[j]; r.m[k] != nil && !seen[k] {
				seen[k] = true
				keep = append(keep, k)
			}
		}
		slices.Reverse(keep)
		r.order = keep
	}
}

func (r *replies) use(topic []byte, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[string(topic)]
	if !ok {
		return false
	}
	if !now.Before(e.deadline) {
		delete(r.m, string(topic))
		return false
	}
	if e.left--; e.left == 0 {
		delete(r.m, string(topic))
	}
	return true
}
