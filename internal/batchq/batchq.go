// Package batchq is a queue written out in batches by a goroutine that runs
// only while there is something to write.
//
// Producers append under the queue's lock and never wait for the writing
// (unless they ask to wait for room). The first append to an idle queue
// starts a writer goroutine; the writer swaps the queued items for an empty
// slice, writes them as one batch without the lock, and goes on until it
// finds the queue empty, then ends. Under load many items share one write;
// idle, an item goes out at once and no goroutine is left.
//
// What differs between users (deadlines, how a batch is split into calls,
// what a failure means, what a piece costs) stays in their Write and End
// functions; the queue only orders, batches and owns the goroutine.
package batchq

import "sync"

// Config says how a Queue writes and what happens at its end.
type Config[T any] struct {
	// Write writes one batch: the items queued when the writer took them,
	// in order. It runs on the writer goroutine, one batch at a time,
	// without the queue's lock, so it may call Append or Close. It
	// returns how many items it dealt with; fewer than len(batch) only
	// with an error. An error ends the queue: nothing more is written.
	Write func(batch []T) (int, error)
	// End, if set, runs once on the writer goroutine when the queue ends:
	// after Close once everything is written (err nil, unwritten empty),
	// or after a failed Write, with its error and what was not written
	// (the rest of that batch, then everything queued after it).
	End func(err error, unwritten []T)
	// Go, if set, starts the writer goroutine, for an owner that counts
	// its goroutines: it runs run on a new goroutine and returns true, or
	// returns false to start none (the owner is stopping; the items stay
	// queued). It is called with the queue's lock held and must not call
	// the queue. Without it the queue starts the goroutine itself, and
	// Wait is how its owner waits for it.
	Go func(run func()) bool
	// KeepCap: a written batch whose capacity is at most KeepCap becomes
	// the backing array of the next one; larger ones are left to the
	// garbage collector, so that a burst's memory goes. Kept arrays are
	// not cleared: leave it zero for items that hold pointers.
	KeepCap int
	// StartAt: an append starts the writer only once at least StartAt
	// items are queued (a writer that is running takes them all anyway);
	// Kick and Close start it whatever is queued. Zero means at once.
	StartAt int
	// Held: no writer starts until Start, which may put items ahead of
	// those already queued.
	Held bool
}

// Queue is an outbound queue with an on-demand writer. Call Init before
// anything else; a Queue must not be copied after.
type Queue[T any] struct {
	cfg   Config[T]
	runFn func() // q.run, made once for cfg.Go

	mu       sync.Mutex
	items    []T // queued, not taken by the writer yet
	spare    []T // a written batch's array, for the next items
	writing  int // items in the batch being written
	running  bool
	held     bool
	closed   bool  // Close was called: nothing more is queued
	err      error // a Write failed: nothing more is queued or written
	finished bool  // End has returned
	// changed is made by a waiter and closed (and dropped) when the writer
	// takes a batch, goes idle or finishes.
	changed chan struct{}
}

// Init sets the queue up; it must come before any other call.
func (q *Queue[T]) Init(cfg Config[T]) {
	q.cfg = cfg
	q.held = cfg.Held
	if cfg.Go != nil {
		q.runFn = q.run
	}
}

// Append calls fn with the queued items under the queue's lock, queues
// what fn returns (fn appends to its argument; it may also look at or
// change what is there), and starts the writer if none runs. It returns
// how many items are queued or being written, and false (without calling
// fn) once the queue is closed or has failed.
func (q *Queue[T]) Append(fn func([]T) []T) (pending int, ok bool) {
	items, ok := q.Lock()
	if !ok {
		return 0, false
	}
	return q.Unlock(fn(items)), true
}

// Lock and Unlock are Append without a closure, for a hot path (through
// a closure, the engine's Deliver took a quarter longer): Lock locks the
// queue and returns the queued items, or returns false, unlocked, once the
// queue is closed or has failed. The caller appends and passes the result
// to Unlock, which must follow.
func (q *Queue[T]) Lock() (items []T, ok bool) {
	q.mu.Lock()
	if q.closed || q.err != nil {
		q.mu.Unlock()
		return nil, false
	}
	return q.items, true
}

// Unlock queues items (what Lock returned, appended to), starts the
// writer if none runs, unlocks the queue and returns how many items are
// queued or being written.
func (q *Queue[T]) Unlock(items []T) (pending int) {
	q.items = items
	pending = len(items) + q.writing
	if !q.running {
		q.startLocked(false)
	}
	q.mu.Unlock()
	return pending
}

// AppendWait is Append after waiting while more than max items are
// queued (the batch being written does not count). Producers that may be
// held up use it, so that a writer that cannot keep up bounds the queue.
func (q *Queue[T]) AppendWait(max int, fn func([]T) []T) (pending int, ok bool) {
	q.mu.Lock()
	for len(q.items) > max && !q.closed && q.err == nil {
		q.waitLocked(nil)
	}
	if q.closed || q.err != nil {
		q.mu.Unlock()
		return 0, false
	}
	return q.Unlock(fn(q.items)), true
}

// Start lets a Held queue's writer start, after fn (if not nil) has
// changed the queued items under the lock, e.g. put a greeting ahead of
// them.
func (q *Queue[T]) Start(fn func([]T) []T) {
	q.mu.Lock()
	if fn != nil && q.err == nil {
		q.items = fn(q.items)
	}
	q.held = false
	q.startLocked(true)
	q.mu.Unlock()
}

// TakeIdle lets the caller write in the writer's place when the queue is
// idle: nothing queued or being written, no writer running, not held,
// closed or failed. It is for a small item its owner can write without
// blocking (a heartbeat to a quiet connection), so that it costs no
// goroutine. It returns false when the queue is not idle; after true the
// caller writes and then must call DoneIdle. Meanwhile appends are queued
// as if a writer ran (the caller may append what it could not write), and
// DoneIdle starts a writer if anything was queued or the queue was closed.
// (Two calls, not one taking a function: no closure per heartbeat.)
func (q *Queue[T]) TakeIdle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running || q.held || q.closed || q.err != nil || len(q.items) > 0 {
		return false
	}
	q.running = true
	return true
}

// DoneIdle ends a write that TakeIdle allowed.
func (q *Queue[T]) DoneIdle() {
	q.mu.Lock()
	q.running = false
	q.startLocked(true)
	q.mu.Unlock()
}

// Kick starts the writer if anything is queued, however little (see
// Config.StartAt).
func (q *Queue[T]) Kick() {
	q.mu.Lock()
	q.startLocked(true)
	q.mu.Unlock()
}

// Close ends the queue: nothing more is queued; fn (if not nil) changes
// what is queued a last time under the lock (drops it, adds a last item);
// the writer writes what is left and then runs End. It returns false,
// without calling fn, if the queue was already closed or has failed.
func (q *Queue[T]) Close(fn func([]T) []T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.err != nil {
		return false
	}
	q.closed = true
	if fn != nil {
		q.items = fn(q.items)
	}
	q.startLocked(true)
	return true
}

// Drained waits until nothing is queued or being written, or the queue
// has ended, and returns true; or returns false when stop is closed
// first. (With a Held queue, or a Config.Go that refused, items can stay
// queued until stop.)
func (q *Queue[T]) Drained(stop <-chan struct{}) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for (len(q.items) > 0 || q.writing > 0) && !q.finished {
		if !q.waitLocked(stop) {
			return false
		}
	}
	return true
}

// Wait returns once the queue has ended and End has returned: after
// Close, or after a failed Write. It is how an owner waits for the
// writer goroutine.
func (q *Queue[T]) Wait() {
	q.mu.Lock()
	for !q.finished {
		q.waitLocked(nil)
	}
	q.mu.Unlock()
}

// waitLocked waits, without the lock, until the writer takes a batch,
// goes idle or finishes, and returns true; or returns false if stop is
// closed first. q.mu is held.
func (q *Queue[T]) waitLocked(stop <-chan struct{}) bool {
	if q.changed == nil {
		q.changed = make(chan struct{})
	}
	ch := q.changed
	q.mu.Unlock()
	defer q.mu.Lock()
	select {
	case <-ch:
		return true
	case <-stop:
		return false
	}
}

// signalLocked wakes the waiters. q.mu is held.
func (q *Queue[T]) signalLocked() {
	if q.changed != nil {
		close(q.changed)
		q.changed = nil
	}
}

// startLocked starts a writer unless one runs, the queue is held or
// finished, or there is nothing to do (any item if kick, StartAt items
// otherwise; a closed queue always has its End to run). q.mu is held.
func (q *Queue[T]) startLocked(kick bool) {
	if q.running || q.held || q.finished {
		return
	}
	n := len(q.items)
	if !q.closed && (n == 0 || !kick && n < q.cfg.StartAt) {
		return
	}
	q.running = true
	if q.cfg.Go == nil {
		go q.run()
	} else if !q.cfg.Go(q.runFn) {
		q.running = false
	}
}

// run is the writer: it writes batches until the queue is empty, then
// ends; a closed or failed queue has its End run first. Once running is
// set under the lock, every append is this writer's to write, so an
// append that races its end is never stranded: either the writer sees it
// before it clears running, or the append sees running cleared and
// starts another.
func (q *Queue[T]) run() {
	var unwritten []T
	q.mu.Lock()
	for len(q.items) > 0 {
		batch := q.items
		q.items, q.spare = q.spare[:0], nil
		q.writing = len(batch)
		q.signalLocked() // room for AppendWait
		q.mu.Unlock()
		n, err := q.cfg.Write(batch)
		q.mu.Lock()
		q.writing = 0
		if err != nil {
			q.err = err
			// A new array: the batch's own must not be appended into.
			unwritten = append(append([]T(nil), batch[min(n, len(batch)):]...), q.items...)
			q.items = nil
			break
		}
		if cap(batch) <= q.cfg.KeepCap {
			q.spare = batch[:0]
		}
	}
	if !q.closed && q.err == nil {
		q.running = false
		q.signalLocked()
		q.mu.Unlock()
		return
	}
	err := q.err
	q.mu.Unlock()
	if q.cfg.End != nil {
		q.cfg.End(err, unwritten)
	}
	q.mu.Lock()
	q.finished = true
	q.signalLocked()
	q.mu.Unlock()
}
