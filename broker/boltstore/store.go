// Package boltstore is a broker.RetainedStore kept in a bbolt file.
//
// Every retained message is held in memory, in a topic index that answers
// wildcard filters, so Match never touches the file; the file only makes the
// messages durable. Writes go through one writer goroutine that groups them:
// many concurrent Sets share one bbolt transaction and its fsync, and each
// Set's done callback runs once its change is committed.
package boltstore

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/topics"
)

var _ broker.RetainedStore = (*Store)(nil)

// Sentinel errors of Open.
var (
	// ErrLocked is returned by Open when another process (or another Store
	// in this one) holds the file; the error also wraps bbolt's ErrTimeout.
	ErrLocked = errors.New("locked by another process")
	// ErrCorrupt is returned by Open for a file that is damaged or is not a
	// retained store.
	ErrCorrupt = errors.New("corrupt or not a retained store")
)

// Defaults for zero Options fields.
const (
	DefaultLockTimeout = time.Second
	DefaultMaxBatch    = 1000
)

// sweepEvery is how often the writer looks for expired messages.
const sweepEvery = time.Second

// Options configure a Store. The zero value is usable.
type Options struct {
	// MaxMessages caps the number of retained messages; 0 means no limit.
	MaxMessages int
	// MaxBytes caps the bytes of topic, header and payload of all retained
	// messages together; 0 means no limit.
	MaxBytes int
	// LockTimeout is how long Open waits for a file locked by another
	// process before failing with ErrLocked; 0 means DefaultLockTimeout.
	// (bbolt itself would wait forever.)
	LockTimeout time.Duration
	// CommitDelay is how long the writer waits after the first queued
	// write for more to arrive before committing them together. 0, the
	// default, commits as soon as the writer is free: the writes queued
	// while a commit's fsync runs share the next commit, which already
	// groups concurrent publishers (measured: docs/benchmarks.md); a delay
	// only adds latency on a fast disk.
	CommitDelay time.Duration
	// MaxBatch caps the writes committed in one transaction; a full batch is
	// committed without waiting for CommitDelay. 0 means DefaultMaxBatch.
	MaxBatch int
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.MaxMessages < 0:
		return o, fmt.Errorf("boltstore: negative MaxMessages %d", o.MaxMessages)
	case o.MaxBytes < 0:
		return o, fmt.Errorf("boltstore: negative MaxBytes %d", o.MaxBytes)
	case o.LockTimeout < 0:
		return o, fmt.Errorf("boltstore: negative LockTimeout %s", o.LockTimeout)
	case o.CommitDelay < 0:
		return o, fmt.Errorf("boltstore: negative CommitDelay %s", o.CommitDelay)
	case o.MaxBatch < 0:
		return o, fmt.Errorf("boltstore: negative MaxBatch %d", o.MaxBatch)
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	return o, nil
}

// Store is a broker.RetainedStore backed by a bbolt file. It is safe for
// concurrent use. Only one Store (in any process) can have a file open.
type Store struct {
	path string
	opts Options
	db   *bolt.DB

	mu      sync.RWMutex
	idx     *broker.RetainedIndex[*entry] // disk plus queued writes
	closed  bool
	queue   []*write          // writes not yet taken by the writer, in order
	queued  map[string]*write // the queued write of each topic, at most one
	firstAt time.Time         // when queue last became non-empty

	wake    chan struct{} // the queue became non-empty
	full    chan struct{} // the queue holds a full batch
	quit    chan struct{} // closed by Close
	stopped chan struct{} // closed when the writer has ended

	closeOnce sync.Once
	closeErr  error
	flushErr  error // the writer's last commit error while closing

	batch   []*write              // the writer's batch buffer, reused
	commits atomic.Int64          // committed transactions, for tests
	lastErr atomic.Pointer[error] // the last commit's error; nil after a success

	// failCommit, when set before the writes it should fail, is called in
	// each commit's transaction; an error aborts that commit. Tests only.
	failCommit func() error
}

// Open opens or creates the store file at path and loads every retained
// message into memory. Expired messages found in the file are deleted.
func Open(path string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	db, err := openDB(path, opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	s := &Store{
		path:    path,
		opts:    opts,
		db:      db,
		idx:     broker.NewRetainedIndex[*entry](opts.MaxMessages, opts.MaxBytes),
		queued:  make(map[string]*write),
		wake:    make(chan struct{}, 1),
		full:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.run()
	return s, nil
}

// Set implements broker.RetainedStore. The message is visible to Match when
// Set returns; done runs, on the writer goroutine, once it is on disk (or
// with an error wrapping broker.ErrStore, and the change undone). done must
// not block long nor call Close.
func (s *Store) Set(m broker.RetainedMessage, done func(error)) error {
	if err := topics.ValidatePublish(m.Topic); err != nil {
		return fmt.Errorf("%w: %w", broker.ErrBadTopic, err)
	}
	if len(m.Topic) > bolt.MaxKeySize {
		return fmt.Errorf("%w: topic of %d bytes exceeds bbolt's %d byte keys", broker.ErrRetainedLimit, len(m.Topic), bolt.MaxKeySize)
	}
	var e *entry
	if len(m.Payload) > 0 {
		if n := int64(recordFixed) + int64(len(m.Header)) + int64(len(m.Payload)); n > bolt.MaxValueSize {
			return fmt.Errorf("%w: record of %d bytes exceeds bbolt's %d byte values", broker.ErrRetainedLimit, n, bolt.MaxValueSize)
		}
		e = newEntry(m.Header, m.Payload, expiryNanos(m.Expires))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("boltstore: %w", broker.ErrClosed)
	}
	if e != nil {
		if err := s.idx.Fit(e.message(m.Topic), time.Now(), s.queueDeleteLocked); err != nil {
			return err
		}
	}
	s.enqueueLocked(m.Topic, e, done)
	return nil
}

// Match implements broker.RetainedStore, from memory; expired messages are
// skipped. The Header and Payload given to fn are shared and read-only: fn
// must neither modify nor keep them, and must not call into the store.
func (s *Store) Match(filter string, fn func(broker.RetainedMessage) bool) error {
	now := time.Now()
	// Collect under the read lock, deliver after it: a large replay to a
	// slow session must not hold up retained publishes. Entries are never
	// changed, only replaced.
	type found struct {
		topic string
		e     *entry
	}
	var all []found
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("boltstore: %w", broker.ErrClosed)
	}
	s.idx.Match(filter, now, func(topic string, e *entry) bool {
		all = append(all, found{topic, e})
		return true
	})
	s.mu.RUnlock()
	for _, f := range all {
		if !fn(f.e.message(f.topic)) {
			break
		}
	}
	return nil
}

// Len implements broker.RetainedStore. Expired messages are not counted:
// their deletion is queued first.
func (s *Store) Len() int {
	s.sweep(time.Now())
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.Len()
}

// Bytes implements broker.RetainedSizer.
func (s *Store) Bytes() int {
	s.sweep(time.Now())
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.Bytes()
}

// Health reports whether the store can keep messages: an error once it is
// closed, or while its last commit failed (the next one that succeeds
// clears it), nil otherwise.
func (s *Store) Health() error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return broker.ErrClosed
	}
	if e := s.lastErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Close implements broker.RetainedStore: later Sets fail with
// broker.ErrClosed, queued writes are committed (their done callbacks run),
// and the file is closed. Close is safe to call more than once; it returns
// the error of the final commit, if any, or of closing the file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.quit)
		<-s.stopped
		s.closeErr = errors.Join(s.flushErr, s.db.Close())
	})
	return s.closeErr
}
