package topics

import "strings"

// Count returns how many subscribers (filter, queue) has: plain ones for an
// empty queue, the members of that queue group otherwise. An invalid
// filter has none.
func (t *Tree[T]) Count(filter, queue string) int {
	if check(filter, true) != nil {
		return 0
	}
	var toks [MaxTokens]string
	ntok, _ := split(filter, &toks)
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := &t.root
	for _, tok := range toks[:ntok] {
		if n = n.child(tok, false); n == nil {
			return 0
		}
	}
	if queue == "" {
		return len(n.plain.items)
	}
	if q := n.queues[queue]; q != nil {
		return len(q.items)
	}
	return 0
}

// Walk calls fn for every (filter, queue) that has subscribers, with their
// number, in no particular order, until fn returns false. It holds the
// tree's read lock: fn must not call back into the tree.
func (t *Tree[T]) Walk(fn func(filter, queue string, subscribers int) bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var path [MaxTokens]string
	t.root.walk(path[:0], fn)
}

func (n *node[T]) walk(path []string, fn func(string, string, int) bool) bool {
	if len(path) > 0 {
		filter := strings.Join(path, tokenSepStr)
		if len(n.plain.items) > 0 && !fn(filter, "", len(n.plain.items)) {
			return false
		}
		for name, q := range n.queues {
			if !fn(filter, name, len(q.items)) {
				return false
			}
		}
	}
	for tok, c := range n.next {
		if !c.walk(append(path, tok), fn) {
			return false
		}
	}
	for _, c := range []struct {
		tok string
		n   *node[T]
	}{{pwc, n.star}, {fwc, n.full}} {
		if c.n != nil && !c.n.walk(append(path, c.tok), fn) {
			return false
		}
	}
	return true
}
