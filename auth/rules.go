package auth

import (
	"bytes"
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// A rule is one entry of an allow or deny list: a filter in topic syntax,
// and for a subscribe rule optionally a queue group pattern ("orders.> workers").
type rule struct {
	toks  []string
	queue []string // nil: the rule is not limited to a queue group
}

func parseRule(s string) rule {
	f := strings.Fields(s)
	r := rule{toks: strings.Split(f[0], ".")}
	if len(f) > 1 {
		r.queue = strings.Split(f[1], ".")
	}
	return r
}

// trie holds filters for matching concrete topics without allocating: a
// publish topic against the publish rules, a delivered topic against the
// subscribe deny rules.
type trie struct {
	lit  map[string]*trie
	star *trie
	full bool // a rule ends here with ">"
	end  bool // a rule ends exactly here
}

func (t *trie) add(toks []string) {
	n := t
	for _, tok := range toks {
		switch tok {
		case ">":
			n.full = true
			return
		case "*":
			if n.star == nil {
				n.star = &trie{}
			}
			n = n.star
		default:
			if n.lit == nil {
				n.lit = map[string]*trie{}
			}
			c := n.lit[tok]
			if c == nil {
				c = &trie{}
				n.lit[tok] = c
			}
			n = c
		}
	}
	n.end = true
}

// match reports whether topic (valid, no wildcards) matches a rule. With
// system false, a wildcard in the first position does not match a system
// topic ("$SYS..."), as in a subscription; deny rules pass true, so that
// deny ">" denies everything.
func (t *trie) match(topic []byte, system bool) bool {
	if !system && len(topic) > 0 && topic[0] == '$' {
		i := bytes.IndexByte(topic, '.')
		if i < 0 {
			c := t.lit[string(topic)]
			return c != nil && c.end
		}
		c := t.lit[string(topic[:i])]
		return c != nil && c.matchRest(topic[i+1:])
	}
	return t.matchRest(topic)
}

// matchRest matches the non-empty rest of a topic from node t.
func (t *trie) matchRest(rest []byte) bool {
	if t.full {
		return true
	}
	i := bytes.IndexByte(rest, '.')
	tok, tail := rest, []byte(nil)
	if i >= 0 {
		tok, tail = rest[:i], rest[i+1:]
	}
	for _, c := range [2]*trie{t.lit[string(tok)], t.star} {
		if c == nil {
			continue
		}
		if i < 0 {
			if c.end {
				return true
			}
		} else if c.matchRest(tail) {
			return true
		}
	}
	return false
}

// subset reports whether every topic filter f matches is matched by rule
// tokens r. system says whether a leading wildcard of r covers system
// topics (deny rules) or not (allow rules).
func subset(f, r []string, system bool) bool {
	for i, rt := range r {
		if i >= len(f) {
			return false
		}
		if i == 0 && !system && rt != f[0] && strings.HasPrefix(f[0], "$") {
			return false
		}
		switch rt {
		case ">":
			return true
		case "*":
			if f[i] == ">" {
				return false // ">" spans more than the one token "*" does
			}
		default:
			if f[i] != rt {
				return false
			}
		}
	}
	return len(f) == len(r)
}

// intersects reports whether some topic matches both f and r.
func intersects(f, r []string) bool {
	for i := 0; ; i++ {
		if i == len(f) || i == len(r) {
			return len(f) == len(r)
		}
		a, b := f[i], r[i]
		if a == ">" || b == ">" {
			return true
		}
		if a != "*" && b != "*" && a != b {
			return false
		}
	}
}

// queueMatches reports whether queue group q matches pattern p, token by
// token with "*" and ">" as in topics.
func queueMatches(p []string, q string) bool {
	qt := strings.Split(q, ".")
	for i, t := range p {
		if t == ">" {
			return i < len(qt)
		}
		if i >= len(qt) || (t != "*" && t != qt[i]) {
			return false
		}
	}
	return len(p) == len(qt)
}

// decisions caches a rule set's answer per topic, so that the publish path
// costs a hash and a compare instead of a trie walk. A rule set never
// changes (a reload compiles new ones), so entries need no invalidation.
// A topic may sit in any of the 4 slots of its bucket, so that a few hot
// topics whose hashes collide do not evict each other on every publish.
type decisions struct {
	seed  maphash.Seed
	slots [decisionSlots]atomic.Pointer[decision]
}

// decisionSlots is 32 KiB of pointers per rule set: room for a few
// thousand hot topics.
const (
	decisionSlots = 4096
	bucketSize    = 4
)

type decision struct {
	set   *permSet // whose decision it is
	topic string
	ok    bool
}

func (d *decisions) get(topic []byte) *decision {
	h := maphash.Bytes(d.seed, topic) % decisionSlots
	for i := h &^ (bucketSize - 1); i < h|(bucketSize-1)+1; i++ {
		if e := d.slots[i].Load(); e != nil && e.topic == string(topic) {
			return e
		}
	}
	return nil
}

// put stores a decision in a free slot of the topic's bucket, or else in
// the one its hash points at.
func (d *decisions) put(topic []byte, ok bool, set *permSet) *decision {
	h := maphash.Bytes(d.seed, topic) % decisionSlots
	e := &decision{set: set, topic: string(topic), ok: ok}
	for i := h &^ (bucketSize - 1); i < h|(bucketSize-1)+1; i++ {
		if d.slots[i].CompareAndSwap(nil, e) {
			return e
		}
	}
	d.slots[h].Store(e)
	return e
}
