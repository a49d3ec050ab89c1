package topics

import (
	"runtime"
	"strings"
	"sync"
)

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
	// The literal branches: while there is only one (most nodes of most
	// tries are links of a chain), it is held in tok and one, with no map
	// to allocate or to look through on each match; from two on, in next.
	tok    string
	one    *node[T]
	next   map[string]*node[T]
	star   *node[T] // "*" branch
	full   *node[T] // ">" branch; never has children
	plain  set[T]
	queues map[string]*set[T] // queue name -> members
}

func (n *node[T]) empty() bool {
	return len(n.plain.items) == 0 && len(n.queues) == 0 &&
		n.one == nil && len(n.next) == 0 && n.star == nil && n.full == nil
}

// lit returns the literal branch for tok, or nil.
func (n *node[T]) lit(tok string) *node[T] {
	if n.one != nil {
		if n.tok == tok {
			return n.one
		}
		return nil
	}
	return n.next[tok]
}

// eachLit calls fn for each literal branch until it returns false.
func (n *node[T]) eachLit(fn func(tok string, c *node[T]) bool) bool {
	if n.one != nil {
		return fn(n.tok, n.one)
	}
	for tok, c := range n.next {
		if !fn(tok, c) {
			return false
		}
	}
	return true
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
		c := n.lit(tok)
		if c == nil && create {
			c = &node[T]{}
			// Clone: the caller's string may alias a reused buffer, and
			// a token should not pin the memory of a whole filter.
			tok = strings.Clone(tok)
			switch {
			case n.one == nil && n.next == nil:
				n.tok, n.one = tok, c
			case n.one != nil:
				n.next = map[string]*node[T]{n.tok: n.one, tok: c}
				n.tok, n.one = "", nil
			default:
				n.next[tok] = c
			}
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
		if n.one != nil {
			if n.tok == tok {
				n.tok, n.one = "", nil
			}
			return
		}
		delete(n.next, tok)
		if len(n.next) == 1 {
			for t, c := range n.next {
				n.tok, n.one = t, c
			}
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

// walkChunk is how many trie nodes a match visits under one hold of its
// read lock. A topic can have as many paths to walk as there are distinct
// wildcard filters that share its prefixes (issue 14: 2^16 filters of `a`
// or `*` took 35 ms to walk), and no summary kept in the nodes can bound
// that against a client who chooses the filters. What is bounded instead is
// what such a walk costs everyone else: every walkChunk nodes it lets go of
// its read lock (a waiting writer, and the readers queued behind that
// writer, go first) and of its processor (other goroutines run), then
// carries on where it was. About 25-250 µs of walking, depending on how
// much of the trie is in the CPU's cache.
const walkChunk = 1024

// step is where a walk carries on: the branches below n, to match against
// toks[i:].
type step[T comparable] struct {
	n *node[T]
	i int
}

// match collects into r the subscriptions whose filter matches toks (a
// valid topic), in depth-first order: a node's ">" branch, then its "*"
// branch, then its literal one. It is called with the read lock m held and
// returns with it held, but lets go of it every walkChunk nodes (see
// walkChunk). A subscription present throughout the walk is found: its
// nodes are never empty, so never dropped from the trie, and a walk that
// carries on at a node finds everything below it that is still there.
// A system topic is matched only through its literal first token, never by
// a leading "*" or ">".
func (n *node[T]) match(toks []string, r *Result[T], m *sync.RWMutex) {
	// Pending literal branches, deepest on top: each is one level deeper
	// than the one below it, so there are fewer than MaxTokens.
	var stack [MaxTokens]step[T]
	sp := 0
	i := 0
	if IsSystem(toks[0]) {
		if n = n.lit(toks[0]); n == nil {
			return
		}
		if len(toks) == 1 {
			r.add(n)
			return
		}
		i = 1
	}
	visits := 0
	for {
		if visits++; visits == walkChunk {
			visits = 0
			m.RUnlock()
			runtime.Gosched()
			m.RLock()
		}
		if n.full != nil {
			r.add(n.full)
		}
		c := n.lit(toks[i])
		if i == len(toks)-1 {
			if n.star != nil {
				r.add(n.star)
			}
			if c != nil {
				r.add(c)
			}
			c = nil // nothing below the last token
		} else if n.star != nil {
			if c != nil {
				stack[sp] = step[T]{c, i + 1}
				sp++
			}
			n, i = n.star, i+1
			continue
		}
		if c != nil {
			n, i = c, i+1
			continue
		}
		if sp == 0 {
			return
		}
		sp--
		n, i = stack[sp].n, stack[sp].i
	}
}
