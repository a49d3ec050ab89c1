package boltstore

import (
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/msgtrans/msgtrans/broker"
)

// A write is one topic's pending change. While it is queued, later Sets of
// the same topic merge into it (the last value wins, every done is kept);
// once the writer has taken it, it no longer changes.
type write struct {
	topic string
	e     *entry // the new value; nil deletes
	// prev is the topic's value on disk before this write, assuming the
	// write taken before it (if any) commits; nil means absent. A failed
	// commit restores it, or hands it on to the next queued write.
	prev  *entry
	done  func(error)
	dones []func(error) // the dones after the first
}

// enqueueLocked applies a change to the in-memory view and queues it for
// the writer. s.mu is held.
func (s *Store) enqueueLocked(topic string, e *entry, done func(error)) {
	var old *entry
	if e == nil {
		old, _ = s.idx.Delete(topic)
	} else {
		old, _ = s.idx.Put(e.message(topic), e)
	}
	s.queueLocked(topic, e, old, done)
}

// queueDeleteLocked queues the deletion of topic, already deleted from the
// in-memory view, where its value was old. s.mu is held.
func (s *Store) queueDeleteLocked(topic string, old *entry) {
	s.queueLocked(topic, nil, old, nil)
}

// queueLocked queues a change already made to the in-memory view, where
// topic's value was old (nil: absent). s.mu is held.
func (s *Store) queueLocked(topic string, e, old *entry, done func(error)) {
	if w := s.queued[topic]; w != nil {
		w.e = e
		if done != nil {
			if w.done == nil {
				w.done = done
			} else {
				w.dones = append(w.dones, done)
			}
		}
		return
	}
	w := &write{topic: strings.Clone(topic), e: e, prev: old, done: done}
	if len(s.queue) == 0 {
		s.firstAt = time.Now()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.queue = append(s.queue, w)
	s.queued[w.topic] = w
	if len(s.queue) == s.opts.MaxBatch {
		select {
		case s.full <- struct{}{}:
		default:
		}
	}
}

// run is the writer goroutine: it commits the queue in batches and sweeps
// expired messages, until Close.
func (s *Store) run() {
	defer close(s.stopped)
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-s.wake:
		case <-sweep.C:
			s.sweep(time.Now())
		case <-s.quit:
			s.drain() // skips CommitDelay now that quit is closed
			return
		}
		s.drain()
	}
}

// drain commits batches until the queue is empty. A batch is taken when it
// is full, when CommitDelay has passed since its first write was queued, or
// at once when the store is closing.
func (s *Store) drain() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		n, first := len(s.queue), s.firstAt
		s.mu.Unlock()
		if n == 0 {
			return
		}
		wait := time.Until(first.Add(s.opts.CommitDelay))
		if n < s.opts.MaxBatch && wait > 0 && !s.closing() {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-s.full: // maybe stale: look again
			case <-s.quit:
			}
			continue
		}
		s.commit(s.take())
	}
}

func (s *Store) closing() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// take removes up to MaxBatch writes from the queue. The slice it returns
// is reused by the next take.
func (s *Store) take() []*write {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(s.queue), s.opts.MaxBatch)
	s.batch = append(s.batch[:0], s.queue[:n]...)
	rest := copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	for _, w := range s.batch {
		delete(s.queued, w.topic)
	}
	return s.batch
}

// commit writes a batch in one transaction, undoes it in memory if that
// fails, and then calls the batch's dones.
func (s *Store) commit(batch []*write) {
	if len(batch) == 0 {
		return
	}
	err := s.update(batch)
	if err != nil {
		err = fmt.Errorf("%w: %s: %w", broker.ErrStore, s.path, err)
		s.rollback(batch)
		if s.closing() {
			s.flushErr = err // for Close to report
		}
		s.lastErr.Store(&err)
	} else {
		s.commits.Add(1)
		s.lastErr.Store(nil)
	}
	for _, w := range batch {
		if w.done != nil {
			w.done(err)
		}
		for _, done := range w.dones {
			done(err)
		}
	}
	clear(batch) // drop references held by the reused buffer
}

// update runs the bbolt transaction of a batch. A panic inside bbolt is
// returned as an error: the transaction was rolled back by then.
func (s *Store) update(batch []*write) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked: %v", r)
		}
	}()
	return s.db.Update(func(tx *bolt.Tx) error {
		if s.failCommit != nil {
			if err := s.failCommit(); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketRetained)
		for _, w := range batch {
			var err error
			if w.e == nil {
				err = b.Delete([]byte(w.topic))
			} else {
				err = b.Put([]byte(w.topic), w.e.rec)
			}
			if err != nil {
				return fmt.Errorf("topic %q: %w", w.topic, err)
			}
		}
		return nil
	})
}

// rollback restores the in-memory view of a failed batch's topics to what
// is on disk. A topic written again since the batch was taken keeps its
// newer value; that queued write inherits the disk value to restore.
func (s *Store) rollback(batch []*write) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range batch {
		if q := s.queued[w.topic]; q != nil {
			q.prev = w.prev
			continue
		}
		if p := w.prev; p != nil {
			s.idx.Put(p.message(w.topic), p)
		} else {
			s.idx.Delete(w.topic)
		}
	}
}

// sweep deletes the messages expired by now from memory and queues their
// deletion from disk.
func (s *Store) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.idx.DropExpired(now, s.queueDeleteLocked)
	}
}
