package broker

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/msgtrans/msgtrans/topics"
)

// Will is a message the broker publishes on a session's behalf when the
// session ends without a clean goodbye: the client vanished, was cut off
// as a slow consumer or for a protocol error, or the broker shut down.
type Will struct {
	Topic   string
	Header  []byte // encoded header block
	Payload []byte
	Retain  bool
	TTL     time.Duration // as Message.TTL
	// Delay postpones the publish after the session has ended.
	Delay time.Duration
}

// SetWill gives the session a will (a copy of w is kept), or takes it away
// (w == nil: the clean goodbye). The will is checked like a publish when it
// is set (topic, payload size); the permission to publish it is checked
// when it is published, with the principal in force then.
func (s *Session) SetWill(w *Will) error {
	if w == nil {
		s.will.Store(nil)
		return nil
	}
	if err := topics.ValidatePublish(w.Topic); err != nil {
		return fmt.Errorf("%w: will: %w", ErrBadTopic, err)
	}
	if len(w.Payload) > s.b.opts.MaxPayload {
		return fmt.Errorf("%w: will of %d bytes, limit is %d", ErrPayloadTooLarge, len(w.Payload), s.b.opts.MaxPayload)
	}
	if w.Delay < 0 || w.TTL < 0 {
		return errors.New("broker: will: negative delay or ttl")
	}
	cp := *w
	cp.Header, cp.Payload = clone(w.Header), clone(w.Payload)
	s.will.Store(&cp)
	return nil
}

// wills holds the wills waiting for their delay, so that a shutdown can
// publish them before the sessions that would receive them are gone.
type wills struct {
	mu      sync.Mutex
	pending map[*time.Timer]func()
	stopped bool // no more waiting: a will is published at once, or dropped
	drop    bool // stopped by Close: dropped
}

// publishWill publishes the will of s, which has ended: now, or after its
// delay.
func (b *Broker) publishWill(s *Session, w *Will) {
	fire := func() {
		if perms := s.principal.Load().Permissions; perms != nil && !perms.MayPublish([]byte(w.Topic)) {
			return
		}
		// A will refused for a store limit is dropped like any message
		// nobody can take; there is no one left to tell.
		_ = b.publish(s, &Message{Topic: []byte(w.Topic), Header: w.Header, Payload: w.Payload, Retain: w.Retain, TTL: w.TTL}, nil)
	}
	if w.Delay <= 0 {
		fire()
		return
	}
	b.wills.mu.Lock()
	if b.wills.stopped {
		// A session that ends during a graceful shutdown publishes its
		// will without waiting, like the wills that were waiting did.
		drop := b.wills.drop
		b.wills.mu.Unlock()
		if !drop {
			fire()
		}
		return
	}
	if b.wills.pending == nil {
		b.wills.pending = make(map[*time.Timer]func())
	}
	var t *time.Timer
	t = time.AfterFunc(w.Delay, func() {
		b.wills.mu.Lock()
		_, ok := b.wills.pending[t]
		delete(b.wills.pending, t)
		b.wills.mu.Unlock()
		if ok {
			fire()
		}
	})
	b.wills.pending[t] = fire
	b.wills.mu.Unlock()
}

// flushWills publishes every delayed will at once (publish true, during a
// graceful shutdown) or drops them, and lets no new ones wait.
func (b *Broker) flushWills(publish bool) {
	b.wills.mu.Lock()
	b.wills.stopped = true
	b.wills.drop = b.wills.drop || !publish
	var fires []func()
	for t, fire := range b.wills.pending {
		if t.Stop() {
			fires = append(fires, fire)
		}
	}
	b.wills.pending = nil
	b.wills.mu.Unlock()
	if publish {
		for _, fire := range fires {
			fire()
		}
	}
}
