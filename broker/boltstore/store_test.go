package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/msgtrans/msgtrans/broker"
)

func dbPath(t testing.TB) string { return filepath.Join(t.TempDir(), "retained.db") }

func openStore(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// set stores a message and waits for its done.

func set(t testing.TB, s broker.RetainedStore, topic, payload string) error {
	t.Helper()
	return setMsg(t, s, broker.RetainedMessage{Topic: topic, Payload: []byte(payload)})
}

func setMsg(t testing.TB, s broker.RetainedStore, m broker.RetainedMessage) error {
	t.Helper()
	ch := make(chan error, 1)
	if err := s.Set(m, func(err error) { ch <- err }); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("done of %q not called", m.Topic)
		return nil
	}
}

func mustSet(t testing.TB, s broker.RetainedStore, topic, payload string) {
	t.Helper()
	if err := set(t, s, topic, payload); err != nil {
		t.Fatalf("set %q: %v", topic, err)
	}
}

// match returns topic -> payload for filter, failing on a topic seen twice.

func match(t testing.TB, s broker.RetainedStore, filter string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := s.Match(filter, func(m broker.RetainedMessage) bool {
		if _, dup := got[m.Topic]; dup {
			t.Errorf("topic %q matched twice", m.Topic)
		}
		got[m.Topic] = string(m.Payload)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func wantMatch(t testing.TB, s broker.RetainedStore, filter string, want map[string]string) {
	t.Helper()
	got := match(t, s, filter)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Match(%q) = %v, want %v", filter, got, want)
	}
}

// rawRecords reads the retained bucket of a closed store with a separate,

// read-only bbolt handle.

func rawRecords(t testing.TB, path string) map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[string]string{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRetained).ForEach(func(k, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			got[string(k)] = string(e.payload)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSetMatchLenDelete(t *testing.T) {
	s := openStore(t, dbPath(t), Options{})
	mustSet(t, s, "a.b", "1")
	mustSet(t, s, "a.c", "2")
	mustSet(t, s, "x.y.z", "3")
	hdr := []byte{0, 1, 2}
	if err := setMsg(t, s, broker.RetainedMessage{Topic: "h", Header: hdr, Payload: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	hdr[0] = 9 // the store must have copied it
	if n := s.Len(); n != 4 {
		t.Fatalf("Len %d", n)
	}
	wantMatch(t, s, "a.*", map[string]string{"a.b": "1", "a.c": "2"})
	wantMatch(t, s, "x.>", map[string]string{"x.y.z": "3"})
	wantMatch(t, s, "a.b", map[string]string{"a.b": "1"})
	wantMatch(t, s, "bad..filter", map[string]string{})
	s.Match("h", func(m broker.RetainedMessage) bool {
		if !bytes.Equal(m.Header, []byte{0, 1, 2}) || !m.Expires.IsZero() {
			t.Errorf("header %v expires %v", m.Header, m.Expires)
		}
		return true
	})

	mustSet(t, s, "a.b", "1b") // replace
	mustSet(t, s, "a.c", "")   // delete
	mustSet(t, s, "nope", "")  // delete of nothing is fine
	if n := s.Len(); n != 3 {
		t.Fatalf("Len %d after delete", n)
	}
	wantMatch(t, s, "a.*", map[string]string{"a.b": "1b"})

	stops := 0
	s.Match(">", func(broker.RetainedMessage) bool { stops++; return false })
	if stops != 1 {
		t.Fatalf("Match went on after fn returned false: %d calls", stops)
	}
	if err := s.Set(broker.RetainedMessage{Topic: "a.*", Payload: []byte("x")}, nil); !errors.Is(err, broker.ErrBadTopic) {
		t.Fatalf("wildcard topic: %v", err)
	}
	if err := s.Set(broker.RetainedMessage{Topic: strings.Repeat("a", bolt.MaxKeySize+1), Payload: []byte("x")}, nil); err == nil {
		t.Fatal("over-long topic accepted")
	}
}

func TestReopen(t *testing.T) {
	path := dbPath(t)
	s := openStore(t, path, Options{})
	want := map[string]string{}
	for i := range 200 {
		topic := fmt.Sprintf("dev.%d.temp.%d", i%7, i)
		want[topic] = fmt.Sprintf("v%d", i)
		mustSet(t, s, topic, "old")
		mustSet(t, s, topic, want[topic])
	}
	for i := range 20 { // deleted before the reopen
		topic := fmt.Sprintf("gone.%d", i)
		mustSet(t, s, topic, "x")
		mustSet(t, s, topic, "")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s2 := openStore(t, path, Options{})
	if n := s2.Len(); n != len(want) {
		t.Fatalf("Len %d after reopen, want %d", n, len(want))
	}
	wantMatch(t, s2, ">", want)
	sub := map[string]string{}
	for topic, p := range want {
		if strings.HasPrefix(topic, "dev.3.") {
			sub[topic] = p
		}
	}
	wantMatch(t, s2, "dev.3.*.*", sub)
}

func TestDoneAfterCommit(t *testing.T) {
	path := dbPath(t)
	s := openStore(t, path, Options{})
	// In done, the record is already in the file, as a reader sees it.
	ondisk := func(topic string) (v []byte) {
		s.db.View(func(tx *bolt.Tx) error {
			v = bytes.Clone(tx.Bucket(bucketRetained).Get([]byte(topic)))
			return nil
		})
		return v
	}
	ch := make(chan []byte, 1)
	s.Set(broker.RetainedMessage{Topic: "d.1", Payload: []byte("durable")}, func(err error) {
		if err != nil {
			t.Error(err)
		}
		ch <- ondisk("d.1")
	})
	if v := <-ch; v == nil {
		t.Fatal("done ran before the record was committed")
	}
	s.Set(broker.RetainedMessage{Topic: "d.1"}, func(error) { ch <- ondisk("d.1") })
	if v := <-ch; v != nil {
		t.Fatal("done of a delete ran before it was committed")
	}
	mustSet(t, s, "d.2", "kept")
	s.Close()
	if got := rawRecords(t, path); fmt.Sprint(got) != "map[d.2:kept]" {
		t.Fatalf("file holds %v", got)
	}
}

func TestCloseFlushes(t *testing.T) {
	path := dbPath(t)
	s := openStore(t, path, Options{CommitDelay: time.Hour})
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		err := s.Set(broker.RetainedMessage{Topic: fmt.Sprintf("c.%d", i), Payload: []byte("v")}, func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait() // every done ran before Close returned
	if err := s.Set(broker.RetainedMessage{Topic: "late", Payload: []byte("v")}, nil); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	if err := s.Match(">", func(broker.RetainedMessage) bool { return true }); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Match after Close: %v", err)
	}
	if n := len(rawRecords(t, path)); n != 10 {
		t.Fatalf("%d records after Close, want 10", n)
	}
}

func TestGroupCommit(t *testing.T) {
	s := openStore(t, dbPath(t), Options{})
	const publishers, each = 64, 50
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				if err := set(t, s, fmt.Sprintf("g.%d.%d", p, i%5), fmt.Sprint(i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	writes, commits := publishers*each, int(s.commits.Load())
	t.Logf("%d acked writes in %d commits", writes, commits)
	if commits >= writes/4 {
		t.Fatalf("%d commits for %d writes: no group commit", commits, writes)
	}
	if n := s.Len(); n != publishers*5 {
		t.Fatalf("Len %d", n)
	}
}

func TestCoalesce(t *testing.T) {
	path := dbPath(t)
	s := openStore(t, path, Options{CommitDelay: 200 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		s.Set(broker.RetainedMessage{Topic: "same", Payload: []byte(fmt.Sprint(i))}, func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait() // every done is called
	if c := s.commits.Load(); c != 1 {
		t.Fatalf("%d commits for one batch", c)
	}
	s.Close()
	if got := rawRecords(t, path); got["same"] != "9" {
		t.Fatalf("file holds %v, want the last write", got)
	}
}

func TestLocked(t *testing.T) {
	path := dbPath(t)
	openStore(t, path, Options{})
	const timeout = 200 * time.Millisecond
	start := time.Now()
	s2, err := Open(path, Options{LockTimeout: timeout})
	took := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), path+" is locked by another process") {
		t.Fatalf("error %q", err)
	}
	if took > 2*timeout+300*time.Millisecond {
		t.Fatalf("Open took %s with a %s lock timeout", took, timeout)
	}
}

// Damaged pages behind valid meta pages make bbolt panic or fault; Open

// reports that as corruption and releases the file.

// rawUpdate edits a closed store file directly.

func TestOptions(t *testing.T) {
	for _, o := range []Options{{MaxMessages: -1}, {MaxBytes: -1}, {LockTimeout: -1}, {CommitDelay: -1}, {MaxBatch: -1}} {
		if _, err := Open(dbPath(t), o); err == nil {
			t.Errorf("Open with %+v succeeded", o)
		}
	}
	s := openStore(t, dbPath(t), Options{})
	if s.opts.LockTimeout != DefaultLockTimeout || s.opts.CommitDelay != 0 || s.opts.MaxBatch != DefaultMaxBatch {
		t.Fatalf("defaults not applied: %+v", s.opts)
	}
	// MaxBatch bounds a commit: 10 queued writes with MaxBatch 3 take 4.
	s = openStore(t, dbPath(t), Options{MaxBatch: 3, CommitDelay: time.Hour})
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		s.Set(broker.RetainedMessage{Topic: fmt.Sprintf("b.%d", i), Payload: []byte("v")}, func(error) { wg.Done() })
	}
	s.Close()
	wg.Wait()
	if c := s.commits.Load(); c != 4 {
		t.Fatalf("%d commits for 10 writes in batches of 3", c)
	}
}

func TestLimits(t *testing.T) {
	path := dbPath(t)
	s := openStore(t, path, Options{MaxMessages: 2, MaxBytes: 20})
	mustSet(t, s, "a", "123456") // 7 bytes
	mustSet(t, s, "b", "123456") // 14
	if err := set(t, s, "c", "1"); !errors.Is(err, broker.ErrRetainedLimit) {
		t.Fatalf("third message: %v", err)
	}
	mustSet(t, s, "a", "12345678") // replacing within limits: 16 bytes
	if err := set(t, s, "a", "1234567890123"); !errors.Is(err, broker.ErrRetainedLimit) {
		t.Fatalf("replace past MaxBytes: %v", err)
	}
	wantMatch(t, s, ">", map[string]string{"a": "12345678", "b": "123456"})
	mustSet(t, s, "b", "") // delete frees room
	mustSet(t, s, "c", "1")
	s.Close()

	// Limits count what was loaded from the file.
	s = openStore(t, path, Options{MaxMessages: 2, MaxBytes: 20})
	if err := set(t, s, "d", "1"); !errors.Is(err, broker.ErrRetainedLimit) {
		t.Fatalf("after reopen: %v", err)
	}
	if err := set(t, s, "c", strings.Repeat("x", 11)); !errors.Is(err, broker.ErrRetainedLimit) {
		t.Fatalf("bytes after reopen: %v", err)
	}
	mustSet(t, s, "c", strings.Repeat("x", 10))
}

// A real failure inside bbolt's commit: the file may not grow (as when the

// disk is full), then may again.

// A write queued while an earlier write of the same topic is being

// committed must survive that commit's failure, and roll back to the disk

// value if it fails too.

func TestExpiry(t *testing.T) {
	path := dbPath(t)
	s := openStore(t, path, Options{})
	past := time.Now().Add(-time.Second)
	later := time.Now().Add(time.Hour)
	for topic, exp := range map[string]time.Time{"e.past": past, "e.later": later, "e.never": {}} {
		if err := setMsg(t, s, broker.RetainedMessage{Topic: topic, Payload: []byte("v"), Expires: exp}); err != nil {
			t.Fatal(err)
		}
	}
	wantMatch(t, s, "e.*", map[string]string{"e.later": "v", "e.never": "v"})
	s.Match("e.later", func(m broker.RetainedMessage) bool {
		if !m.Expires.Equal(later) {
			t.Errorf("Expires %v, want %v", m.Expires, later)
		}
		return true
	})
	if n := s.Len(); n != 2 { // not counted: Len queues its deletion
		t.Fatalf("Len %d with an expired message", n)
	}
	s.Close()
	if got := rawRecords(t, path); len(got) != 2 || got["e.past"] != "" {
		t.Fatalf("file holds %v after Len and Close", got)
	}

	// Records that expire while the store is closed are dropped at Open.
	s = openStore(t, path, Options{})
	if err := setMsg(t, s, broker.RetainedMessage{Topic: "e.soon", Payload: []byte("v"), Expires: time.Now().Add(50 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	time.Sleep(100 * time.Millisecond)
	s = openStore(t, path, Options{})
	wantMatch(t, s, ">", map[string]string{"e.later": "v", "e.never": "v"})
	s.Close()
	if got := rawRecords(t, path); len(got) != 2 {
		t.Fatalf("file holds %v after reopen", got)
	}
}

func TestExpirySweepTicker(t *testing.T) {
	s := openStore(t, dbPath(t), Options{})
	if err := setMsg(t, s, broker.RetainedMessage{Topic: "t", Payload: []byte("v"), Expires: time.Now().Add(100 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	// Len would sweep by itself: look at the index, as the writer leaves it.
	stored := func() int {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.idx.Len()
	}
	deadline := time.Now().Add(3 * sweepEvery)
	for stored() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("expired message not swept")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
