package topics

import "strings"

// Members calls fn for each subscriber of (filter, queue) (the plain ones
// for an empty queue, the members of that group otherwise; none for an
// invalid filter), until fn returns false. It holds the tree's read lock: fn must not
// call back into the tree.
func (t *Tree[T]) Members(filter, queue string, fn func(T) bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, v := range t.find(filter, queue) {
		if !fn(v) {
			return
		}
	}
}

// find returns the subscribers of (filter, queue). The read lock is held.
func (t *Tree[T]) find(filter, queue string) []T {
	if check(filter, true) != nil {
		return nil
	}
	var toks [MaxTokens]string
	ntok, _ := split(filter, &toks)
	n := &t.root
	for _, tok := range toks[:ntok] {
		if n = n.child(tok, false); n == nil {
			return nil
		}
	}
	if queue == "" {
		return n.plain.items
	}
	if q := n.queues[queue]; q != nil {
		return q.items
	}
	return nil
}

// Walk calls fn for every (filter, queue) that has subscribers, with them,
// in no particular order, until fn returns false. It holds the tree's read
// lock: fn must not call back into the tree, nor keep or change members.
func (t *Tree[T]) Walk(fn func(filter, queue string, members []T) bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var path [MaxTokens]string
	t.root.walk(path[:0], fn)
}

func (n *node[T]) walk(path []string, fn func(string, string, []T) bool) bool {
	if len(path) > 0 {
		filter := strings.Join(path, tokenSepStr)
		if len(n.plain.items) > 0 && !fn(filter, "", n.plain.items) {
			return false
		}
		for name, q := range n.queues {
			if !fn(filter, name, q.items) {
				return false
			}
		}
	}
	if !n.eachLit(func(tok string, c *node[T]) bool { return c.walk(append(path, tok), fn) }) {
		return false
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
