package broker

import (
	"sync"
	"time"
)

// RetainedMessage is the last message published with the retain flag on a topic.
type RetainedMessage struct {
	Topic   string
	Header  []byte // encoded header block, opaque to the broker
	Payload []byte
	// Expires is when the message stops being retained; the zero time means
	// never. Stores neither match nor count expired messages, and delete
	// them lazily (see RetainedIndex).
	Expires time.Time
}

// size is what a message counts against a store's byte limit.
func (m *RetainedMessage) size() int { return len(m.Topic) + len(m.Header) + len(m.Payload) }

// RetainedStore keeps retained messages. Implementations must be safe for
// concurrent use.
type RetainedStore interface {
	// Set stores m as its topic's retained message, replacing any earlier
	// one, or deletes the topic's message when m.Payload is empty. Set must
	// copy what it keeps: m's slices are only valid during the call.
	//
	// Limits are checked before Set returns, and expired messages do not
	// count against them: on error nothing changed and done is not called.
	// Otherwise done is called exactly once, possibly before Set returns,
	// when the change is durable (or failed to be). done may be nil.
	Set(m RetainedMessage, done func(error)) error
	// Match calls fn for each retained message whose topic matches filter,
	// expired ones excepted, until fn returns false. fn must not keep the
	// message's slices and must not call back into the store.
	Match(filter string, fn func(RetainedMessage) bool) error
	// Len reports how many retained messages are stored, expired ones not
	// included.
	Len() int
	// Close releases the store.
	Close() error
}

// MemoryStore is a RetainedStore held in memory. A topic index answers
// wildcard filters without scanning every message.
type MemoryStore struct {
	mu  sync.RWMutex
	idx *RetainedIndex[*RetainedMessage]
}

// NewMemoryStore returns an empty store holding at most maxMessages messages
// and maxBytes bytes (topic, header and payload); zero means no limit.
func NewMemoryStore(maxMessages, maxBytes int) *MemoryStore {
	return &MemoryStore{idx: NewRetainedIndex[*RetainedMessage](maxMessages, maxBytes)}
}

// Set implements RetainedStore.
func (s *MemoryStore) Set(m RetainedMessage, done func(error)) error {
	if err := s.set(m); err != nil {
		return err
	}
	if done != nil {
		done(nil)
	}
	return nil
}

func (s *MemoryStore) set(m RetainedMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(m.Payload) == 0 {
		s.idx.Delete(m.Topic)
		return nil
	}
	if err := s.idx.Fit(m, time.Now(), nil); err != nil {
		return err
	}
	cp := &RetainedMessage{Topic: m.Topic, Header: clone(m.Header), Payload: clone(m.Payload), Expires: m.Expires}
	s.idx.Put(*cp, cp)
	return nil
}

// Match implements RetainedStore. Expired messages are skipped, then deleted.
func (s *MemoryStore) Match(filter string, fn func(RetainedMessage) bool) error {
	now := time.Now()
	if s.match(filter, now, fn) {
		s.dropExpired(now)
	}
	return nil
}

// match calls fn for the live messages matching filter and reports whether
// it skipped an expired one.
func (s *MemoryStore) match(filter string, now time.Time, fn func(RetainedMessage) bool) (skipped bool) {
	// Collect under the read lock, deliver after it: a large replay to a
	// slow session must not hold up retained publishes (they take the
	// write lock). Stored messages are never changed, only replaced.
	s.mu.RLock()
	var found []*RetainedMessage
	skipped = s.idx.Match(filter, now, func(_ string, m *RetainedMessage) bool {
		found = append(found, m)
		return true
	})
	s.mu.RUnlock()
	for _, m := range found {
		if !fn(*m) {
			break
		}
	}
	return skipped
}

// dropExpired deletes the messages expired by now.
func (s *MemoryStore) dropExpired(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idx.DropExpired(now, nil)
}

// Len implements RetainedStore. Expired messages are not counted: they are
// deleted first.
func (s *MemoryStore) Len() int {
	s.dropExpired(time.Now())
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.Len()
}

// Bytes implements RetainedSizer.
func (s *MemoryStore) Bytes() int {
	s.dropExpired(time.Now())
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.Bytes()
}

// Close implements RetainedStore. A MemoryStore holds no resources.
func (s *MemoryStore) Close() error { return nil }

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
