package topics

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// defaultCacheSize is the number of match results a Tree caches when
// NewTree is given a size <= 0.
const defaultCacheSize = 1024

// Result is the set of subscriptions matching one topic.
//
// Results returned by [Tree.Match] are shared between callers and kept in the
// match cache: they are read-only, and callers must not modify the Result or
// its slices.
//
// A value inserted under several filters that all match a topic appears once
// per matching filter, in Plain or in the Members of its queue; callers that
// need one delivery per value deduplicate.
type Result[T comparable] struct {
	Plain  []T        // plain subscribers whose filter matches
	Queues []Queue[T] // one entry per matching queue group, sorted by name
	// Memo is an answer a caller worked out from the topic alone, kept
	// with the result for as long as it stays cached (a change to the
	// subscriptions that match the topic makes a new result, without
	// one). The first caller to store one keeps the slot. The shared
	// result of topics with no subscriber (Empty) must not get one.
	Memo atomic.Pointer[Memo]
}

// Memo is what Result.Memo holds: Key says what the answer is about (the
// caller's own comparable value, such as a pointer).
type Memo struct{ Key any }

// Queue is one queue group in a [Result]: the members that share a queue
// name on one filter. A group is its filter and its name together: "g" on
// "x.*" and "g" on "x.>" are two groups, each of which gets a message that
// both filters match (as in NATS, and MQTT's $share/g/filter).
type Queue[T comparable] struct {
	Name    string
	Members []T
}

// Empty reports whether r holds no subscriber.
func (r *Result[T]) Empty() bool {
	return len(r.Plain) == 0 && len(r.Queues) == 0
}

// add appends copies of the subscriptions held by n (the node's slices keep
// changing after the result has been cached).
func (r *Result[T]) add(n *node[T]) {
	r.Plain = append(r.Plain, n.plain.items...)
	for name, q := range n.queues {
		r.Queues = append(r.Queues, Queue[T]{Name: name, Members: slices.Clone(q.items)})
	}
}

// Tree is the subscription index: filters with plain or queue subscribers,
// matched against publish topics. It is safe for concurrent use. The zero
// Tree is ready to use with the default cache size; NewTree picks another.
//
// Match results are cached per topic, from a topic's second miss on. Every
// Insert and Remove bumps the generation and drops the cache entries of the
// topics its filter matches.
type Tree[T comparable] struct {
	root      node[T]
	count     int
	gen       atomic.Uint64
	recent    [recentChanges]string // the filters of the last changes, by generation (see unaffected)
	cache     map[string]*Result[T] // only valid publish topics
	cacheMax  int
	cacheCost int        // sum of the cached results' cost
	door      doorkeeper // topics that missed once: cached on the next miss
	none      Result[T]  // shared empty result
	mu        brlock     // the trie and the cache; one read shard per publisher hint
}

// NewTree returns an empty Tree whose match cache holds up to cacheSize
// topics; cacheSize <= 0 means the default of 1024.
func NewTree[T comparable](cacheSize int) *Tree[T] {
	if cacheSize <= 0 {
		cacheSize = defaultCacheSize
	}
	return &Tree[T]{cacheMax: cacheSize}
}

// Insert subscribes v to filter. An empty queue makes v a plain subscriber,
// which receives every matching message; otherwise v joins the queue group
// of that name on that filter. Inserting the same (filter, queue, v) twice
// returns ErrExists. The same v may be inserted under other filters or queues.
func (t *Tree[T]) Insert(filter, queue string, v T) error {
	if err := check(filter, true); err != nil {
		return wrap(err, filter)
	}
	var toks [MaxTokens]string
	ntok, _ := split(filter, &toks)

	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for _, tok := range toks[:ntok] {
		n = n.child(tok, true)
	}
	if !n.add(queue, v) {
		return subErr(ErrExists, filter, queue)
	}
	t.count++
	t.changed(filter, toks[:ntok])
	return nil
}

// Remove undoes one Insert of (filter, queue, v) and prunes the trie nodes
// left empty. It returns ErrNotFound if that subscription does not exist.
func (t *Tree[T]) Remove(filter, queue string, v T) error {
	if err := check(filter, true); err != nil {
		return wrap(err, filter)
	}
	var toks [MaxTokens]string
	ntok, _ := split(filter, &toks)

	t.mu.Lock()
	defer t.mu.Unlock()
	var path [MaxTokens + 1]*node[T] // path[i] is the node reached after i tokens
	path[0] = &t.root
	for i, tok := range toks[:ntok] {
		c := path[i].child(tok, false)
		if c == nil {
			return subErr(ErrNotFound, filter, queue)
		}
		path[i+1] = c
	}
	if !path[ntok].remove(queue, v) {
		return subErr(ErrNotFound, filter, queue)
	}
	for i := ntok; i > 0 && path[i].empty(); i-- {
		path[i-1].drop(toks[i-1])
	}
	t.count--
	t.changed(filter, toks[:ntok])
	return nil
}

func subErr(err error, filter, queue string) error {
	if queue == "" {
		return wrap(err, filter)
	}
	return fmt.Errorf("%w: %q queue %q", err, filter, queue)
}

// changed bumps the generation and drops the cache entries that filter
// matches (see cache.go). Called with the write lock held.
func (t *Tree[T]) changed(filter string, toks []string) {
	g := t.gen.Add(1)
	t.recent[g%recentChanges] = filter
	t.invalidate(filter, toks)
}

// recentChanges is how many of the last changes' filters a Tree keeps, so
// that a miss whose walk raced with changes can tell whether any of them
// could affect its topic.
const recentChanges = 32

// unaffected reports whether no change since generation gen has a filter
// that matches topic, so that a result computed at gen is still true for
// it: changes to other topics, however frequent, must not keep a topic
// out of the cache. Called with the write lock held.
func (t *Tree[T]) unaffected(topic string, gen uint64) bool {
	cur := t.gen.Load()
	if cur-gen > recentChanges {
		return false // too many to tell
	}
	for g := gen + 1; g <= cur; g++ {
		if Overlap(t.recent[g%recentChanges], topic) {
			return false
		}
	}
	return true
}

// Match returns the subscriptions whose filter matches topic. An invalid
// publish topic returns a nil Result and an error wrapping a sentinel. The
// Result is shared and read-only (see [Result]); it is never nil when the
// error is nil.
//
// Topics are validated only on a cache miss: the cache holds valid topics
// only. On a hit Match does not allocate.
func (t *Tree[T]) Match(topic string) (*Result[T], error) {
	m := t.mu.rlockAt(0)
	if r, ok := t.cache[topic]; ok {
		m.RUnlock()
		return r, nil
	}
	return t.miss(topic, m)
}

// MatchBytes is Match for a topic held in a byte slice, for example inside a
// read buffer. It does not allocate on a cache hit and does not keep b.
func (t *Tree[T]) MatchBytes(topic []byte) (*Result[T], error) {
	return t.MatchBytesFrom(topic, 0)
}

// MatchBytesFrom is MatchBytes for a caller that gives a hint, such as its
// session's id: callers with different hints take different read locks,
// so that cores matching at once do not contend on one lock's counter.
func (t *Tree[T]) MatchBytesFrom(topic []byte, hint uint32) (*Result[T], error) {
	m := t.mu.rlockAt(hint)
	if r, ok := t.cache[string(topic)]; ok { // no allocation for this form
		m.RUnlock()
		return r, nil
	}
	if len(topic) == 0 {
		return t.miss("", m)
	}
	// A view of the bytes, not a copy: most misses are one-off topics
	// (replies) that are never cached; miss clones the key when it stores.
	return t.miss(unsafe.String(&topic[0], len(topic)), m)
}

// miss computes the result for topic, caches it (from its second miss on)
// and returns it. It is called with the read lock m held and releases it.
// topic may alias the caller's buffer: it is cloned before it is kept.
func (t *Tree[T]) miss(topic string, m *sync.RWMutex) (*Result[T], error) {
	if err := check(topic, false); err != nil {
		m.RUnlock()
		return nil, wrap(err, topic)
	}
	var toks [MaxTokens]string
	ntok, _ := split(topic, &toks)
	gen := t.gen.Load()
	r := new(Result[T])
	t.root.match(toks[:ntok], r, m)
	m.RUnlock()

	if r.Empty() {
		r = &t.none
	} else if len(r.Queues) > 1 {
		slices.SortFunc(r.Queues, func(a, b Queue[T]) int { return cmp.Compare(a.Name, b.Name) })
	}
	if !t.door.admit(topic) {
		// First miss for this topic: answer without caching it.
		return r, nil
	}
	// The key outlives the call; topic may alias a buffer that gets reused.
	topic = strings.Clone(topic)

	t.mu.Lock()
	// If the tree changed since the read lock was released, r may be stale
	// for the cache (it is still a correct answer for this call), unless
	// none of the changes concerned this topic.
	if t.gen.Load() == gen || t.unaffected(topic, gen) {
		t.store(topic, r)
	}
	t.mu.Unlock()
	return r, nil
}

// store adds an entry to the cache, evicting some entries when it is full
// in entries or in cost (see cost). Called with the write lock held.
func (t *Tree[T]) store(topic string, r *Result[T]) {
	max := t.cacheMax
	if max <= 0 {
		max = defaultCacheSize
	}
	budget := max * costPerEntry
	c := r.cost()
	if c > budget/8 {
		// Caching it would push out an eighth of the cache or more, and
		// copying its members is what a miss costs anyway.
		return
	}
	if t.cache == nil {
		t.cache = make(map[string]*Result[T], max)
	}
	if _, ok := t.cache[topic]; ok {
		return
	}
	for len(t.cache) > 0 && (len(t.cache) >= max || t.cacheCost+c > budget) {
		// Map iteration starts at a random position: this evicts an
		// arbitrary eighth of the entries, amortizing the sweep.
		n := max/8 + 1
		for k := range t.cache {
			t.drop(k)
			if n--; n == 0 {
				break
			}
		}
	}
	t.cache[topic] = r
	t.cacheCost += c
}

// drop removes a cache entry and its cost. Called with the write lock held.
func (t *Tree[T]) drop(topic string) {
	if r, ok := t.cache[topic]; ok {
		t.cacheCost -= r.cost()
		delete(t.cache, topic)
	}
}

// costPerEntry is the average cost (see Result.cost) the cache allows per
// entry: a cache of 1024 topics holds up to 256Ki subscriber references
// (about 2 MiB), however they are spread, and caches a topic with up to
// 32Ki subscribers (a broadcast). Without a cost bound, topics
// matched by a crowded filter would each keep a copy of all its
// subscribers: 4 sessions with 64Ki queue subscriptions on ">" and 3,000
// topics took a broker to 4.9 GiB.
const costPerEntry = 256

// cost is the size of a cached result in subscriber references, plus one
// per slice so that empty results and groups count too.
func (r *Result[T]) cost() int {
	c := 1 + len(r.Plain)
	for _, q := range r.Queues {
		c += 1 + len(q.Members)
	}
	return c
}

// Len returns the number of subscriptions in the tree.
func (t *Tree[T]) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.count
}

// Generation returns a counter bumped by every successful Insert and Remove.
// Callers keeping their own cache of match results can compare generations to
// know when to drop it.
func (t *Tree[T]) Generation() uint64 {
	return t.gen.Load()
}
