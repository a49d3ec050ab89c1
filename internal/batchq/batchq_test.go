package batchq

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a Write that keeps every batch it is given, and an End that
// keeps what it was told; its Go counts the writer goroutines in wg.
type recorder struct {
	mu        sync.Mutex
	batches   [][]int
	failAt    int // fail the write of the item with this value (0: never)
	ended     int
	endErr    error
	unwritten []int

	wg     sync.WaitGroup
	live   atomic.Int32 // writer goroutines running now
	spawns atomic.Int32 // writer goroutines started
}

func (r *recorder) write(batch []int) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, v := range batch {
		if r.failAt != 0 && v == r.failAt {
			r.batches = append(r.batches, slices.Clone(batch[:i]))
			return i, fmt.Errorf("write of %d failed", v)
		}
	}
	r.batches = append(r.batches, slices.Clone(batch))
	return len(batch), nil
}

func (r *recorder) end(err error, unwritten []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended++
	r.endErr, r.unwritten = err, slices.Clone(unwritten)
}

func (r *recorder) spawn(run func()) bool {
	r.wg.Add(1)
	r.live.Add(1)
	r.spawns.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.live.Add(-1)
		run()
	}()
	return true
}

func (r *recorder) written() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []int
	for _, b := range r.batches {
		all = append(all, b...)
	}
	return all
}

func newQueue(r *recorder, cfg Config[int]) *Queue[int] {
	cfg.Write, cfg.End, cfg.Go = r.write, r.end, r.spawn
	q := new(Queue[int])
	q.Init(cfg)
	return q
}

func add(vs ...int) func([]int) []int {
	return func(b []int) []int { return append(b, vs...) }
}

// waitFor fails the test if wait does not return within a few seconds.
func waitFor(t *testing.T, what string, wait func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// A queue that is never used starts nothing; closing it runs End once,
// with nothing written, and Wait returns after it.
func TestEmptyStartStop(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, Config[int]{})
	if n := r.live.Load(); n != 0 {
		t.Fatalf("%d writers before anything was queued", n)
	}
	if !q.Close(nil) {
		t.Fatal("Close of an open queue returned false")
	}
	waitFor(t, "Wait", q.Wait)
	waitFor(t, "the writer goroutine", r.wg.Wait)
	if r.ended != 1 || r.endErr != nil || len(r.batches) != 0 {
		t.Fatalf("End ran %d times with %v, %d batches written", r.ended, r.endErr, len(r.batches))
	}
	if q.Close(nil) {
		t.Fatal("a second Close returned true")
	}
	if _, ok := q.Append(add(1)); ok {
		t.Fatal("Append after Close was accepted")
	}
}

// Items are written in the order they were queued, and what is queued
// before Close is written before End runs.
func TestOrderAndCloseAfterData(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, Config[int]{KeepCap: 64})
	want := make([]int, 0, 1000)
	for i := 1; i <= 1000; i++ {
		q.Append(add(i))
		want = append(want, i)
	}
	q.Close(add(1001))
	want = append(want, 1001)
	waitFor(t, "Wait", q.Wait)
	if got := r.written(); !slices.Equal(got, want) {
		t.Fatalf("written %v...", got[:min(len(got), 20)])
	}
	if r.ended != 1 || r.endErr != nil {
		t.Fatalf("End ran %d times with %v", r.ended, r.endErr)
	}
}

// A failed write ends the queue: nothing after it is written, End gets
// the error and everything not written in order, and appends are refused.
func TestWriteErrorStops(t *testing.T) {
	r := &recorder{failAt: 3}
	q := newQueue(r, Config[int]{Held: true})
	q.Append(add(1, 2, 3, 4))
	q.Start(nil)
	waitFor(t, "Wait", q.Wait)
	q.Append(add(5)) // refused, not written
	if _, ok := q.Append(add(6)); ok {
		t.Fatal("Append after a failed write was accepted")
	}
	if q.Close(nil) {
		t.Fatal("Close after a failed write returned true")
	}
	waitFor(t, "the writer goroutine", r.wg.Wait)
	if got := r.written(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("written %v, want [1 2]", got)
	}
	if r.ended != 1 || r.endErr == nil || !slices.Equal(r.unwritten, []int{3, 4}) {
		t.Fatalf("End ran %d times with %v, unwritten %v", r.ended, r.endErr, r.unwritten)
	}
}

// Once the queue is empty its writer ends: an idle queue has no goroutine,
// and the next append starts one again.
func TestNoWriterWhenIdle(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, Config[int]{})
	for round := range 3 {
		q.Append(add(round))
		if !q.Drained(nil) {
			t.Fatal("Drained without stop returned false")
		}
		waitFor(t, "the writer goroutine to end", r.wg.Wait)
		if n := r.live.Load(); n != 0 {
			t.Fatalf("round %d: %d writers left running", round, n)
		}
	}
	if got := r.written(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("written %v", got)
	}

	// The same without Config.Go: the queue's own goroutine ends too.
	before := runtime.NumGoroutine()
	var own Queue[int]
	own.Init(Config[int]{Write: func(b []int) (int, error) { return len(b), nil }})
	own.Append(add(1))
	own.Drained(nil)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before the append", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// Appends from many goroutines race the writer as it finds the queue empty
// and ends: each one is written (none is left queued with no writer), in
// its producer's order.
func TestAppendRacingWriterExitIsNotStranded(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, Config[int]{})
	const producers, each = 8, 2000
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				q.Append(add(p*each + i))
				if i%7 == 0 {
					runtime.Gosched() // let the writer catch up and go idle
				}
			}
		})
	}
	wg.Wait()
	stop := make(chan struct{})
	timer := time.AfterFunc(5*time.Second, func() { close(stop) })
	defer timer.Stop()
	if !q.Drained(stop) {
		t.Fatal("items left queued with no writer")
	}
	waitFor(t, "the writer goroutines", r.wg.Wait)
	got := r.written()
	t.Logf("%d writers started, %d batches", r.spawns.Load(), len(r.batches))
	if len(got) != producers*each {
		t.Fatalf("%d of %d items written", len(got), producers*each)
	}
	next := make([]int, producers)
	for _, v := range got {
		p := v / each
		if v != p*each+next[p] {
			t.Fatalf("producer %d: got %d, want %d", p, v, p*each+next[p])
		}
		next[p]++
	}
}

// A held queue writes nothing before Start, which may put items first.
func TestHeldUntilStart(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, Config[int]{Held: true})
	q.Append(add(2))
	q.Close(add(3))
	time.Sleep(10 * time.Millisecond)
	if n := r.live.Load(); n != 0 || len(r.written()) != 0 {
		t.Fatalf("a held queue started %d writers", n)
	}
	q.Start(func(b []int) []int { return append([]int{1}, b...) })
	waitFor(t, "Wait", q.Wait)
	if got := r.written(); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("written %v", got)
	}
}

// With StartAt, small appends wait for more or for Kick.
func TestStartAtAndKick(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, Config[int]{StartAt: 3})
	q.Append(add(1))
	q.Append(add(2))
	time.Sleep(10 * time.Millisecond)
	if len(r.written()) != 0 {
		t.Fatal("written before StartAt items were queued")
	}
	q.Append(add(3))
	q.Drained(nil)
	q.Append(add(4))
	q.Kick()
	q.Drained(nil)
	if got := r.written(); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("written %v", got)
	}
}

// AppendWait holds a producer while more than max items wait, and lets it
// go when the writer takes them.
func TestAppendWaitBounds(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	var q Queue[int]
	var largest atomic.Int64
	q.Init(Config[int]{Write: func(b []int) (int, error) {
		largest.Store(max(largest.Load(), int64(len(b))))
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return len(b), nil
	}})
	q.Append(add(0))
	<-started                     // the writer has taken 0 and waits in Write
	q.AppendWait(2, add(1, 2, 3)) // 3 queued: the next one waits
	waited := make(chan struct{})
	go func() {
		q.AppendWait(2, add(4))
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("AppendWait did not wait with 3 items queued and a max of 2")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	waitFor(t, "AppendWait", func() { <-waited })
	q.Close(nil)
	waitFor(t, "Wait", q.Wait)
	if largest.Load() > 3 {
		t.Fatalf("a batch of %d items", largest.Load())
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// A Go that refuses leaves the items queued; the next append that finds
// the owner willing starts the writer for them all.
func TestGoRefused(t *testing.T) {
	r := &recorder{}
	var refuse atomic.Bool
	refuse.Store(true)
	var q Queue[int]
	q.Init(Config[int]{Write: r.write, Go: func(run func()) bool {
		if refuse.Load() {
			return false
		}
		return r.spawn(run)
	}})
	q.Append(add(1))
	if q.Drained(closedChan) {
		t.Fatal("drained with no writer")
	}
	refuse.Store(false)
	q.Append(add(2))
	waitFor(t, "Drained", func() { q.Drained(nil) })
	if got := r.written(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("written %v", got)
	}
}

// TakeIdle lets its caller write in the writer's place only on an idle queue, starts no
// goroutine when nothing else comes, and what is appended meanwhile (by
// others, or by its own write) is written after it by a writer that starts
// then; a Close meanwhile still ends the queue.
func TestTakeIdle(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, Config[int]{Held: true})
	if q.TakeIdle() {
		t.Fatal("TakeIdle on a held queue returned true")
	}
	q.Start(nil)
	if !q.TakeIdle() {
		t.Fatal("TakeIdle on an idle queue returned false")
	}
	q.DoneIdle()
	if n := r.spawns.Load(); n != 0 {
		t.Fatalf("%d writers started for nothing queued", n)
	}
	// Appends during the write wait for it, then one writer takes them.
	inWrite := make(chan struct{})
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !q.TakeIdle() {
			t.Error("TakeIdle on an idle queue returned false")
		}
		close(inWrite)
		<-release
		q.Append(add(2)) // what it could not write itself
		q.DoneIdle()
	}()
	<-inWrite
	q.Append(add(1))
	if n := r.spawns.Load(); n != 0 {
		t.Fatalf("a writer started during TakeIdle's write")
	}
	if q.TakeIdle() {
		t.Fatal("TakeIdle while another writes returned true")
	}
	close(release)
	<-done
	waitFor(t, "the writer", func() {
		for len(r.written()) < 2 {
			time.Sleep(time.Millisecond)
		}
	})
	if got := r.written(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("written %v, want [1 2]", got)
	}
	// A Close during the write: End runs after it.
	inWrite = make(chan struct{})
	release = make(chan struct{})
	done = make(chan struct{})
	waitFor(t, "the writer to go idle", r.wg.Wait)
	go func() {
		defer close(done)
		if !q.TakeIdle() {
			t.Error("TakeIdle on an idle queue returned false")
		}
		close(inWrite)
		<-release
		q.DoneIdle()
	}()
	<-inWrite
	q.Close(nil)
	close(release)
	<-done
	waitFor(t, "Wait", q.Wait)
	if r.ended != 1 || r.endErr != nil {
		t.Fatalf("End ran %d times with %v", r.ended, r.endErr)
	}
}
