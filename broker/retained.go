package broker

import (
	"fmt"
	"sync"
	"time"

	"github.com/msgtrans/msgtrans/topics"
)

// RetainedMessage is the last message published with the retain flag on a topic.
type RetainedMessage struct {
	Topic   string
	Header  []byte // encoded header block, opaque to the broker
	Payload []byte
	// Expires is when the message stops being retained; the zero time means
	// never. Stores skip expired messages in Match and delete them lazily.
	Expires time.Time
}

func (m *RetainedMessage) size() int { return len(m.Topic) + len(m.Header) + len(m.Payload) }

func (m *RetainedMessage) expired(now time.Time) bool {
	return !m.Expires.IsZero() && !now.Before(m.Expires)
}

// RetainedStore keeps retained messages. Implementations must be safe for
// concurrent use.
type RetainedStore interface {
	// Set stores m as its topic's retained message, replacing any earlier
	// one, or deletes the topic's message when m.Payload is empty. Set must
	// copy what it keeps: m's slices are only valid during the call.
	//
	// Limits are checked before Set returns: on error nothing changed and
	// done is not called. Otherwise done is called exactly once, possibly
	// before Set returns, when the change is durable (or failed to be).
	// done may be nil.
	Set(m RetainedMessage, done func(error)) error
	// Match calls fn for each retained message whose topic matches filter,
	// until fn returns false. fn must not keep the message's slices and must
	// not call back into the store.
	Match(filter string, fn func(RetainedMessage) bool) error
	// Len reports how many retained messages are stored.
	Len() int
	// Close releases the store.
	Close() error
}

// MemoryStore is a RetainedStore held in memory. A topic index answers
// wildcard filters without scanning every message.
type MemoryStore struct {
	maxMessages, maxBytes int

	mu    sync.RWMutex
	idx   *topics.Index[*RetainedMessage]
	bytes int
}

// NewMemoryStore returns an empty store holding at most maxMessages messages
// and maxBytes bytes (topic, header and payload); zero means no limit.
func NewMemoryStore(maxMessages, maxBytes int) *MemoryStore {
	return &MemoryStore{maxMessages: maxMessages, maxBytes: maxBytes, idx: topics.NewIndex[*RetainedMessage]()}
}

// Set implements RetainedStore.
func (s *MemoryStore) Set(m RetainedMessage, done func(error)) error {
	s.mu.Lock()
	old, had := s.idx.Get(m.Topic)
	if len(m.Payload) == 0 {
		if had {
			s.idx.Delete(m.Topic)
			s.bytes -= old.size()
		}
		s.mu.Unlock()
		if done != nil {
			done(nil)
		}
		return nil
	}
	count := s.idx.Len()
	bytes := s.bytes + m.size()
	if had {
		count--
		bytes -= old.size()
	}
	if s.maxMessages > 0 && count+1 > s.maxMessages {
		s.mu.Unlock()
		return fmt.Errorf("%w: %d messages", ErrRetainedLimit, s.maxMessages)
	}
	if s.maxBytes > 0 && bytes > s.maxBytes {
		s.mu.Unlock()
		return fmt.Errorf("%w: %d bytes", ErrRetainedLimit, s.maxBytes)
	}
	cp := &RetainedMessage{Topic: m.Topic, Header: clone(m.Header), Payload: clone(m.Payload), Expires: m.Expires}
	s.idx.Set(m.Topic, cp)
	s.bytes = bytes
	s.mu.Unlock()
	if done != nil {
		done(nil)
	}
	return nil
}

// Match implements RetainedStore. Expired messages are skipped, then deleted.
func (s *MemoryStore) Match(filter string, fn func(RetainedMessage) bool) error {
	now := time.Now()
	for _, topic := range s.match(filter, now, fn) {
		s.dropExpired(topic, now)
	}
	return nil
}

// match calls fn for the live messages matching filter and returns the
// topics of the expired ones it skipped.
func (s *MemoryStore) match(filter string, now time.Time, fn func(RetainedMessage) bool) (expired []string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.idx.Match(filter, func(topic string, m *RetainedMessage) bool {
		if m.expired(now) {
			expired = append(expired, topic)
			return true
		}
		return fn(*m)
	})
	return expired
}

// dropExpired deletes topic's message if it has expired by now.
func (s *MemoryStore) dropExpired(topic string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.idx.Get(topic); ok && m.expired(now) {
		s.idx.Delete(topic)
		s.bytes -= m.size()
	}
}

// Len implements RetainedStore.
func (s *MemoryStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.Len()
}

// Close implements RetainedStore. A MemoryStore holds no resources.
func (s *MemoryStore) Close() error { return nil }

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
