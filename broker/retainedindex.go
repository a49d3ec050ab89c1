package broker

import (
	"fmt"
	"time"

	"github.com/msgtrans/msgtrans/topics"
)

// RetainedIndex is what every retained store keeps in memory, written once
// for all of them: each topic's message, found by filter through a
// topics.Index, and the accounting of the store's limits and of message
// expiry. V is the store's own form of a message (MemoryStore keeps a
// *RetainedMessage, broker/boltstore its encoded record).
//
// A message counts against the limits from Put to Delete, by the bytes of
// its topic, header and payload, unless it has expired: Match skips
// expired messages, DropExpired deletes them, and Fit drops them before it
// refuses a message. A RetainedIndex is not safe for concurrent use; the
// store locks around it.
type RetainedIndex[V any] struct {
	maxMessages, maxBytes int

	idx   *topics.Index[retainedSlot[V]]
	bytes int
	// nextExpiry is a time before which no stored message expires; zero
	// when none of them ever does.
	nextExpiry time.Time
}

// retainedSlot is a stored message: the store's form of it, and what the
// accounting needs to know.
type retainedSlot[V any] struct {
	v       V
	size    int
	expires time.Time
}

// NewRetainedIndex returns an empty index whose store holds at most
// maxMessages messages and maxBytes bytes; zero (or less) means no limit.
func NewRetainedIndex[V any](maxMessages, maxBytes int) *RetainedIndex[V] {
	return &RetainedIndex[V]{maxMessages: maxMessages, maxBytes: maxBytes, idx: topics.NewIndex[retainedSlot[V]]()}
}

// Len reports how many messages are stored, expired ones included until
// they are dropped.
func (x *RetainedIndex[V]) Len() int { return x.idx.Len() }

// Bytes reports what the stored messages count against the byte limit,
// expired ones included until they are dropped.
func (x *RetainedIndex[V]) Bytes() int { return x.bytes }

// Get returns topic's message, expired or not.
func (x *RetainedIndex[V]) Get(topic string) (V, bool) {
	s, ok := x.idx.Get(topic)
	return s.v, ok
}

// Put stores v, the store's form of m, as m.Topic's message in place of
// any earlier one, which it returns. It accounts for m's size and expiry
// and keeps none of m's slices; it does not check the limits (Fit does).
func (x *RetainedIndex[V]) Put(m RetainedMessage, v V) (old V, had bool) {
	prev, had := x.idx.Get(m.Topic)
	if had {
		x.bytes -= prev.size
	}
	s := retainedSlot[V]{v: v, size: m.size(), expires: m.Expires}
	x.idx.Set(m.Topic, s)
	x.bytes += s.size
	x.nextExpiry = earlierExpiry(x.nextExpiry, s.expires)
	return prev.v, had
}

// Delete removes topic's message and returns it.
func (x *RetainedIndex[V]) Delete(topic string) (old V, had bool) {
	s, had := x.idx.Get(topic)
	if had {
		x.idx.Delete(topic)
		x.bytes -= s.size
	}
	return s.v, had
}

// Fit reports, with an error wrapping ErrRetainedLimit, whether putting m
// in place of its topic's message would exceed the limits. Messages expired
// by now make room: before refusing m, Fit drops them as DropExpired does
// and checks again.
func (x *RetainedIndex[V]) Fit(m RetainedMessage, now time.Time, dropped func(topic string, old V)) error {
	err := x.check(m)
	if err != nil && x.DropExpired(now, dropped) {
		err = x.check(m)
	}
	return err
}

func (x *RetainedIndex[V]) check(m RetainedMessage) error {
	if x.maxMessages <= 0 && x.maxBytes <= 0 {
		return nil
	}
	count, bytes := x.idx.Len()+1, x.bytes+m.size()
	if old, had := x.idx.Get(m.Topic); had {
		count, bytes = count-1, bytes-old.size
	}
	if x.maxMessages > 0 && count > x.maxMessages {
		return fmt.Errorf("%w: %d messages", ErrRetainedLimit, x.maxMessages)
	}
	if x.maxBytes > 0 && bytes > x.maxBytes {
		return fmt.Errorf("%w: %d bytes", ErrRetainedLimit, x.maxBytes)
	}
	return nil
}

// Match calls fn for each message matching filter that has not expired by
// now, until fn returns false. It reports whether it passed over an expired
// message, one that DropExpired would delete.
func (x *RetainedIndex[V]) Match(filter string, now time.Time, fn func(topic string, v V) bool) (skipped bool) {
	x.idx.Match(filter, func(topic string, s retainedSlot[V]) bool {
		if expiredAt(s.expires, now) {
			skipped = true
			return true
		}
		return fn(topic, s.v)
	})
	return skipped
}

// DropExpired deletes the messages expired by now and reports whether there
// were any. dropped, if not nil, is called with each one's topic and value
// after it is deleted. The messages are only looked through once the
// earliest expiry has passed.
func (x *RetainedIndex[V]) DropExpired(now time.Time, dropped func(topic string, old V)) bool {
	if x.nextExpiry.IsZero() || now.Before(x.nextExpiry) {
		return false
	}
	var expired []string
	var next time.Time
	x.idx.Match(">", func(topic string, s retainedSlot[V]) bool {
		if expiredAt(s.expires, now) {
			expired = append(expired, topic)
		} else {
			next = earlierExpiry(next, s.expires)
		}
		return true
	})
	x.nextExpiry = next
	for _, topic := range expired {
		old, _ := x.Delete(topic)
		if dropped != nil {
			dropped(topic, old)
		}
	}
	return len(expired) > 0
}

// expiredAt is the expiry check of retained messages: a message expires at
// its Expires time, and the zero time is never.
func expiredAt(expires, now time.Time) bool {
	return !expires.IsZero() && !now.Before(expires)
}

// earlierExpiry returns the earlier of two expiry times, where the zero
// time is never.
func earlierExpiry(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
