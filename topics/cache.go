package topics

import (
	"strings"
	"sync/atomic"
)

// The match cache of a Tree lives under the tree's lock. Two things keep it
// from thrashing:
//
//   - Admission: a topic is cached the second time it misses, not the first.
//     Request-reply sends every reply to a topic of its own; caching those
//     would take the write lock once per reply and push the hot topics out.
//     A small bitmap of hashes (a doorkeeper) remembers which topics missed
//     once; it is cleared after a while so that it does not fill up.
//   - Precise invalidation: a change to a filter drops only the cached
//     topics that filter matches, so a requester's inbox coming and going
//     leaves every other topic's entry alone.

// doorBits is the size of the doorkeeper in bits: 8 KiB.
const doorBits = 1 << 16

type doorkeeper struct {
	bits  [doorBits / 64]atomic.Uint64
	marks atomic.Int64 // bits set since the last reset
}

// admit records topic and reports whether it was (probably) recorded before.
// It is safe for concurrent use and does not allocate.
func (d *doorkeeper) admit(topic string) bool {
	h := fnv1a(topic) % doorBits
	w, bit := &d.bits[h/64], uint64(1)<<(h%64)
	old := w.Load()
	if old&bit != 0 {
		return true
	}
	w.Or(bit)
	// Past a quarter of the bits false positives get common: forget all.
	if d.marks.Add(1) >= doorBits/4 {
		d.marks.Store(0)
		for i := range d.bits {
			d.bits[i].Store(0)
		}
	}
	return false
}

// invalidate drops the cache entries whose topic filter matches (toks are
// the filter's tokens). Called with the write lock held.
func (t *Tree[T]) invalidate(filter string, toks []string) {
	if len(t.cache) == 0 {
		return
	}
	literal := true
	for _, tok := range toks {
		if tok == pwc || tok == fwc {
			literal = false
			break
		}
	}
	if literal {
		t.drop(filter)
		return
	}
	for topic := range t.cache {
		if matchToks(toks, topic) {
			t.drop(topic)
		}
	}
}

// matchToks reports whether the valid publish topic matches the filter
// split into toks, without allocating. A system topic (first token starting
// with '$') is not matched by a leading wildcard.
func matchToks(toks []string, topic string) bool {
	if (toks[0] == pwc || toks[0] == fwc) && IsSystem(topic) {
		return false
	}
	for i, ft := range toks {
		if ft == fwc {
			return topic != ""
		}
		tok, rest, more := strings.Cut(topic, tokenSepStr)
		if ft != pwc && ft != tok {
			return false
		}
		if !more {
			return i == len(toks)-1
		}
		if i == len(toks)-1 {
			return false
		}
		topic = rest
	}
	return false
}

// fnv1a is the 64-bit FNV-1a hash. Unseeded is fine here: a collision only
// gets a topic cached one miss early.
func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
