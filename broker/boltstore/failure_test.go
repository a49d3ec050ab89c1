package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/msgtrans/msgtrans/broker"
)

func TestCorruptFile(t *testing.T) {
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rand.Uint32())
	}
	files := map[string][]byte{
		"random":      random,
		"short":       random[:100],
		"text":        []byte("this is a text file, not a database\n"),
		"pages":       bytes.Repeat([]byte{0xff}, 16<<10),
		"zero-header": append(make([]byte, 4096), random...),
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			path := dbPath(t)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{LockTimeout: 200 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open of a garbage file succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q", err)
			}
			t.Log(err)
			// The failed Open released the file.
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			openStore(t, path, Options{LockTimeout: 200 * time.Millisecond})
		})
	}
}

func TestDamagedPages(t *testing.T) {
	for seed := range 24 {
		path := dbPath(t)
		s := openStore(t, path, Options{CommitDelay: time.Hour}) // one commit at Close: the same file each run
		for i := range 300 {
			s.Set(broker.RetainedMessage{Topic: fmt.Sprintf("t.%d", i), Payload: bytes.Repeat([]byte{'p'}, 100)}, nil)
		}
		s.Close()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		for i := 2 * 4096; i < len(data); i++ { // everything but the meta pages
			if r.IntN(10) == 0 {
				data[i] = byte(r.Uint32())
			}
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second try is not blocked by the first's lock
			s, err := Open(path, Options{LockTimeout: 200 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatalf("seed %d: Open of a damaged file succeeded", seed)
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("seed %d: error %q", seed, err)
			}
		}
	}
}

func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBadContents(t *testing.T) {
	cases := map[string]struct {
		edit func(tx *bolt.Tx) error
		want string
	}{
		"foreign bucket": {func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("other"))
			return err
		}, "other buckets"},
		"bad record": {func(tx *bolt.Tx) error {
			return tx.Bucket(bucketRetained).Put([]byte("bad.topic"), []byte{1, 2})
		}, `topic "bad.topic"`},
		"record version": {func(tx *bolt.Tx) error {
			return tx.Bucket(bucketRetained).Put([]byte("v.topic"), append([]byte{7}, make([]byte, 20)...))
		}, "unknown record version 7"},
		"header overrun": {func(tx *bolt.Tx) error {
			rec := newEntry([]byte("hh"), []byte("p"), 0).rec
			rec[12] = 50
			return tx.Bucket(bucketRetained).Put([]byte("h"), rec)
		}, "header length 50"},
		"bad key": {func(tx *bolt.Tx) error {
			return tx.Bucket(bucketRetained).Put([]byte("a.>"), newEntry(nil, []byte("p"), 0).rec)
		}, "bad key"},
		"format version": {func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyFormat, []byte{2})
		}, "format version 2"},
		"missing bucket": {func(tx *bolt.Tx) error {
			return tx.DeleteBucket(bucketMeta)
		}, "missing bucket"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := dbPath(t)
			if name == "foreign bucket" {
				rawUpdate(t, path, c.edit) // a bbolt file that is not ours
			} else {
				s := openStore(t, path, Options{})
				mustSet(t, s, "good", "g")
				s.Close()
				rawUpdate(t, path, c.edit)
			}
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want the path and %q", err, c.want)
			}
		})
	}
}

func TestWriteFailure(t *testing.T) {
	path := dbPath(t)
	s := openStore(t, path, Options{})
	mustSet(t, s, "w.kept", "old")
	mustSet(t, s, "w.gone", "here")

	diskFull := errors.New("no space left on device")
	s.failCommit = func() error { return diskFull }
	s.Set(broker.RetainedMessage{Topic: "w.kept", Payload: []byte("new")}, nil)
	s.Set(broker.RetainedMessage{Topic: "w.gone"}, nil)
	err := set(t, s, "w.fresh", "v")
	if !errors.Is(err, broker.ErrStore) || !errors.Is(err, diskFull) {
		t.Fatalf("done got %v", err)
	}
	// Memory is back to what the file holds.
	wantMatch(t, s, "w.*", map[string]string{"w.kept": "old", "w.gone": "here"})
	if n := s.Len(); n != 2 {
		t.Fatalf("Len %d", n)
	}
	// Monitoring's health check sees the failure while it lasts.
	if err := s.Health(); !errors.Is(err, diskFull) {
		t.Fatalf("Health while failing: %v", err)
	}
	if b := s.Bytes(); b != len("w.kept")+len("old")+len("w.gone")+len("here") {
		t.Fatalf("Bytes %d", b)
	}

	s.failCommit = nil // space is back
	mustSet(t, s, "w.kept", "newer")
	mustSet(t, s, "w.fresh", "v")
	if err := s.Health(); err != nil {
		t.Fatalf("Health after a good commit: %v", err)
	}
	s.Close()
	if err := s.Health(); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Health after Close: %v", err)
	}
	if got := rawRecords(t, path); fmt.Sprint(got) != "map[w.fresh:v w.gone:here w.kept:newer]" {
		t.Fatalf("file holds %v", got)
	}
}

func TestFileFull(t *testing.T) {
	path := dbPath(t)
	s := openStore(t, path, Options{})
	mustSet(t, s, "small", "v")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	s.db.MaxSize = int(info.Size()) // read by the writer after the next Set
	big := strings.Repeat("x", 1<<20)
	if err := set(t, s, "big", big); !errors.Is(err, broker.ErrStore) || !errors.Is(err, berrors.ErrMaxSizeReached) {
		t.Fatalf("done got %v", err)
	}
	wantMatch(t, s, ">", map[string]string{"small": "v"})
	mustSet(t, s, "small", "v2") // fits in the file as it is

	s.db.MaxSize = 0 // space is back
	mustSet(t, s, "big", big)
	s.Close()
	if got := rawRecords(t, path); len(got) != 2 || got["small"] != "v2" || got["big"] != big {
		t.Fatalf("file holds %d records", len(got))
	}
}

func TestWriteFailureInFlight(t *testing.T) {
	for _, secondFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("secondFails=%v", secondFails), func(t *testing.T) {
			path := dbPath(t)
			s := openStore(t, path, Options{})
			mustSet(t, s, "f", "disk")
			mustSet(t, s, "g", "disk")

			entered, release := make(chan struct{}), make(chan struct{})
			calls := 0
			s.failCommit = func() error {
				calls++
				if calls == 1 {
					close(entered)
					<-release
					return errors.New("io error")
				}
				if secondFails {
					return errors.New("io error again")
				}
				return nil
			}
			first := make(chan error, 1)
			s.Set(broker.RetainedMessage{Topic: "f", Payload: []byte("one")}, func(err error) { first <- err })
			s.Set(broker.RetainedMessage{Topic: "g"}, nil)
			<-entered // the first batch is in its transaction
			second := make(chan error, 1)
			s.Set(broker.RetainedMessage{Topic: "f", Payload: []byte("two")}, func(err error) { second <- err })
			s.Set(broker.RetainedMessage{Topic: "g", Payload: []byte("back")}, nil)
			close(release)
			if err := <-first; !errors.Is(err, broker.ErrStore) {
				t.Fatalf("first done: %v", err)
			}
			err := <-second
			want := map[string]string{"f": "two", "g": "back"}
			if secondFails {
				if !errors.Is(err, broker.ErrStore) {
					t.Fatalf("second done: %v", err)
				}
				want = map[string]string{"f": "disk", "g": "disk"}
			} else if err != nil {
				t.Fatalf("second done: %v", err)
			}
			wantMatch(t, s, ">", want)
			s.Close()
			if got := rawRecords(t, path); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("file holds %v, memory held %v", got, want)
			}
		})
	}
}
