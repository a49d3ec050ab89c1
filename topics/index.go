package topics

import "strings"

// Index is a set of literal topics, each with a value, that can be queried by
// filter without scanning every topic: Match walks only the branches the
// filter can match. The broker keeps retained messages in one, so that a new
// wildcard subscription finds its retained topics quickly.
//
// An Index is not safe for concurrent use; callers lock. The zero Index is
// ready to use.
type Index[V any] struct {
	root inode[V]
	n    int
}

type inode[V any] struct {
	kids  map[string]*inode[V]
	topic string // the full topic, when set
	val   V
	set   bool
}

// NewIndex returns an empty Index.
func NewIndex[V any]() *Index[V] {
	return &Index[V]{}
}

// Len returns the number of topics in the index.
func (x *Index[V]) Len() int { return x.n }

// Set stores v under topic, replacing any previous value. The topic must be
// a valid publish topic (see [ValidatePublish]); the caller validates.
func (x *Index[V]) Set(topic string, v V) {
	n := &x.root
	var owned string // private copy of topic, made on first use
	rest, at := topic, 0
	for {
		i := strings.IndexByte(rest, sep)
		tok := rest
		if i >= 0 {
			tok = rest[:i]
		}
		c := n.kids[tok]
		if c == nil {
			if owned == "" {
				owned = strings.Clone(topic)
			}
			c = &inode[V]{}
			if n.kids == nil {
				n.kids = make(map[string]*inode[V])
			}
			// Keys share the node's private copy of the topic.
			n.kids[owned[at:at+len(tok)]] = c
		}
		n = c
		if i < 0 {
			break
		}
		rest, at = rest[i+1:], at+i+1
	}
	if !n.set {
		if owned == "" {
			owned = strings.Clone(topic)
		}
		n.topic, n.set = owned, true
		x.n++
	}
	n.val = v
}

// Get returns the value stored under topic.
func (x *Index[V]) Get(topic string) (V, bool) {
	n := &x.root
	for {
		tok, rest, more := strings.Cut(topic, tokenSepStr)
		n = n.kids[tok]
		if n == nil {
			var zero V
			return zero, false
		}
		if !more {
			return n.val, n.set
		}
		topic = rest
	}
}

// Delete removes topic and reports whether it was present. Trie nodes left
// empty are pruned, so memory follows the number of topics, not the churn.
func (x *Index[V]) Delete(topic string) bool {
	found, _ := x.root.delete(topic)
	if found {
		x.n--
	}
	return found
}

// delete removes the topic below n. It reports whether the topic was found
// and whether n itself is now empty and can be pruned.
func (n *inode[V]) delete(topic string) (found, prune bool) {
	tok, rest, more := strings.Cut(topic, tokenSepStr)
	c := n.kids[tok]
	if c == nil {
		return false, false
	}
	if more {
		found, prune = c.delete(rest)
	} else if c.set {
		var zero V
		c.val, c.topic, c.set = zero, "", false
		found, prune = true, len(c.kids) == 0
	}
	if prune {
		delete(n.kids, tok)
		if len(n.kids) == 0 {
			n.kids = nil
		}
	}
	return found, found && !n.set && len(n.kids) == 0
}

// Match calls fn for every topic matching filter (by the rules of
// [MatchFilter], system topics included), in no particular order,
// until fn returns false. An invalid filter matches nothing. fn must not
// modify the index.
func (x *Index[V]) Match(filter string, fn func(topic string, v V) bool) {
	if check(filter, true) != nil {
		return
	}
	var toks [MaxTokens]string
	ntok, _ := split(filter, &toks)
	if toks[0] != pwc && toks[0] != fwc {
		x.root.match(toks[:ntok], fn)
		return
	}
	// A leading wildcard does not reach system topics (see IsSystem).
	for tok, c := range x.root.kids {
		if IsSystem(tok) {
			continue
		}
		if toks[0] == fwc {
			if !c.all(fn) {
				return
			}
		} else if !c.step(toks[1:ntok], fn) {
			return
		}
	}
}

// match walks the branches below n matching toks (at least one token). It
// returns false once fn has asked to stop.
func (n *inode[V]) match(toks []string, fn func(string, V) bool) bool {
	switch toks[0] {
	case fwc:
		for _, c := range n.kids {
			if !c.all(fn) {
				return false
			}
		}
		return true
	case pwc:
		for _, c := range n.kids {
			if !c.step(toks[1:], fn) {
				return false
			}
		}
		return true
	}
	c := n.kids[toks[0]]
	if c == nil {
		return true
	}
	return c.step(toks[1:], fn)
}

// step visits c after it matched one filter token; toks is what is left.
func (c *inode[V]) step(toks []string, fn func(string, V) bool) bool {
	if len(toks) == 0 {
		return !c.set || fn(c.topic, c.val)
	}
	return c.match(toks, fn)
}

// all visits n and every topic below it.
func (n *inode[V]) all(fn func(string, V) bool) bool {
	if n.set && !fn(n.topic, n.val) {
		return false
	}
	for _, c := range n.kids {
		if !c.all(fn) {
			return false
		}
	}
	return true
}
