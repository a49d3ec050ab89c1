package topics

import "strings"

// setIndexMin is the size from which a set keeps a map from member to
// position, so that add and remove stay O(1) for crowded filters while small
// sets (the common case) stay a plain slice.
const setIndexMin = 16

// set is a collection of distinct values in insertion order, except that
// remove moves the last member into the freed slot.
type set[T comparable] struct {
	items []T
	pos   map[T]int // nil while len(items) < setIndexMin
}

func (s *set[T]) find(v T) int {
	if s.pos != nil {
		if i, ok := s.pos[v]; ok {
			return i
		}
		return -1
	}
	for i, x := range s.items {
		if x == v {
			return i
		}
	}
	return -1
}

// add inserts v and reports false if it was already present.
func (s *set[T]) add(v T) bool {
	if s.find(v) >= 0 {
		return false
	}
	s.items = append(s.items, v)
	if s.pos != nil {
		s.pos[v] = len(s.items) - 1
	} else if len(s.items) >= setIndexMin {
		s.pos = make(map[T]int, len(s.items))
		for i, x := range s.items {
			s.pos[x] = i
		}
	}
	return true
}

// remove deletes v and reports false if it was not present.
func (s *set[T]) remove(v T) bool {
	i := s.find(v)
	if i < 0 {
		return false
	}
	last := len(s.items) - 1
	if i != last {
		s.items[i] = s.items[last]
		if s.pos != nil {
			s.pos[s.items[i]] = i
		}
	}
	var zero T
	s.items[last] = zero // do not keep a reference to a removed value
	s.items = s.items[:last]
	if s.pos != nil {
		delete(s.pos, v)
		if len(s.items) < setIndexMin/2 {
			s.pos = nil
		}
	}
	if len(s.items) == 0 {
		s.items = nil
	}
	return true
}

// node is one level of the subscription trie. It holds the subscriptions
// whose filter ends here and the branches to the next token.
type node[T comparable] struct {
	next   map[string]*node[T] // literal tokens
	star   *node[T]            // "*" branch
	full   *node[T]            // ">" branch; never has children
	plain  set[T]
	queues map[string]*set[T] // queue name -> members
}

func (n *node[T]) empty() bool {
	return len(n.plain.items) == 0 && len(n.queues) == 0 &&
		len(n.next) == 0 && n.star == nil && n.full == nil
}

// child returns the branch for tok, creating it if create is true.
func (n *node[T]) child(tok string, create bool) *node[T] {
	var p **node[T]
	switch tok {
	case pwc:
		p = &n.star
	case fwc:
		p = &n.full
	default:
		c := n.next[tok]
		if c == nil && create {
			c = &node[T]{}
			if n.next == nil {
				n.next = make(map[string]*node[T])
			}
			// Clone: the caller's string may alias a reused buffer, and
			// a token should not pin the memory of a whole filter.
			n.next[strings.Clone(tok)] = c
		}
		return c
	}
	if *p == nil && create {
		*p = &node[T]{}
	}
	return *p
}

// drop detaches the branch for tok.
func (n *node[T]) drop(tok string) {
	switch tok {
	case pwc:
		n.star = nil
	case fwc:
		n.full = nil
	default:
		delete(n.next, tok)
		if len(n.next) == 0 {
			n.next = nil
		}
	}
}

func (n *node[T]) add(queue string, v T) bool {
	if queue == "" {
		return n.plain.add(v)
	}
	q := n.queues[queue]
	if q == nil {
		q = &set[T]{}
		if n.queues == nil {
			n.queues = make(map[string]*set[T])
		}
		n.queues[strings.Clone(queue)] = q
	}
	return q.add(v)
}

func (n *node[T]) remove(queue string, v T) bool {
	if queue == "" {
		return n.plain.remove(v)
	}
	q := n.queues[queue]
	if q == nil || !q.remove(v) {
		return false
	}
	if len(q.items) == 0 {
		delete(n.queues, queue)
		if len(n.queues) == 0 {
			n.queues = nil
		}
	}
	return true
}

// matchTop is match from the root: a system topic is matched only through
// its literal first token, never by a leading "*" or ">".
func (n *node[T]) matchTop(toks []string, r *Result[T]) {
	if !IsSystem(toks[0]) {
		n.match(toks, r)
		return
	}
	c := n.next[toks[0]]
	switch {
	case c == nil:
	case len(toks) == 1:
		r.add(c)
	default:
		c.match(toks[1:], r)
	}
}

// match collects into r the subscriptions of the branches below n that match
// toks (at least one token).
func (n *node[T]) match(toks []string, r *Result[T]) {
	for {
		if n.full != nil {
			r.add(n.full)
		}
		if n.star != nil {
			if len(toks) == 1 {
				r.add(n.star)
			} else {
				n.star.match(toks[1:], r)
			}
		}
		c := n.next[toks[0]]
		if c == nil {
			return
		}
		if len(toks) == 1 {
			r.add(c)
			return
		}
		n, toks = c, toks[1:]
	}
}
