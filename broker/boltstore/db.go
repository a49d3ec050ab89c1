package boltstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/msgtrans/msgtrans/topics"
)

// File layout: bucket "meta" holds key "format" = one byte, formatVersion;
// bucket "retained" maps topic -> record (see record.go).
const formatVersion = 1

var (
	bucketMeta     = []byte("meta")
	bucketRetained = []byte("retained")
	keyFormat      = []byte("format")
)

// openDB opens the bbolt file, turning bbolt's failures into errors that
// name the file: ErrLocked when another holder keeps it past timeout,
// ErrCorrupt when it is not a valid bbolt file.
func openDB(path string, timeout time.Duration) (db *bolt.DB, err error) {
	var file *os.File
	opts := &bolt.Options{
		Timeout: timeout,
		// Keep the file so that its lock can be released if bbolt panics
		// on a garbage file before returning a DB. (The mapping, if bbolt
		// made one, is leaked.)
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	// A garbage page id can send bbolt outside its mapping: make that
	// fault a panic we can recover rather than a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				unlockFile(file)
				_ = file.Close()
			}
			db, err = nil, fmt.Errorf("boltstore: %s is %w: bbolt panicked: %v", path, ErrCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("boltstore: %s is %w: %w", path, ErrLocked, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("boltstore: %s is %w: %w", path, ErrCorrupt, err)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err) // permissions, I/O
	}
	// bbolt's other refusals ("file size too small", bad pages) are about
	// the file's content.
	return nil, fmt.Errorf("boltstore: %s is %w: %w", path, ErrCorrupt, err)
}

// load checks or creates the buckets and the format record, deletes expired
// records, and fills the index. Any record it cannot read fails the load:
// a store that silently dropped messages would be worse than one that
// refuses to start.
func (s *Store) load() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("boltstore: %s is %w: bbolt panicked: %v", s.path, ErrCorrupt, r)
		}
	}()
	err = s.db.Update(func(tx *bolt.Tx) error {
		data, err := s.buckets(tx)
		if err != nil {
			return err
		}
		c := data.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				return fmt.Errorf("boltstore: %s is %w: nested bucket %.40q in the retained bucket", s.path, ErrCorrupt, k)
			}
			topic := string(k)
			if err := topics.ValidatePublish(topic); err != nil {
				return fmt.Errorf("boltstore: %s is %w: bad key: %w", s.path, ErrCorrupt, err)
			}
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("boltstore: %s is %w: topic %q: %w", s.path, ErrCorrupt, topic, err)
			}
			s.idx.Put(e.message(topic), e)
		}
		// Delete the expired after iterating: deleting under a cursor can
		// skip keys.
		var derr error
		s.idx.DropExpired(time.Now(), func(topic string, _ *entry) {
			if derr == nil {
				derr = data.Delete([]byte(topic))
			}
		})
		return derr
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("boltstore: load %s: %w", s.path, err)
	}
	return err
}

// buckets returns the retained bucket, creating the layout in a new file
// and checking it in an existing one.
func (s *Store) buckets(tx *bolt.Tx) (*bolt.Bucket, error) {
	meta, data := tx.Bucket(bucketMeta), tx.Bucket(bucketRetained)
	switch {
	case meta != nil && data != nil:
		v := meta.Get(keyFormat)
		if len(v) != 1 {
			return nil, fmt.Errorf("boltstore: %s is %w: bad format record %x", s.path, ErrCorrupt, v)
		}
		if v[0] != formatVersion {
			return nil, fmt.Errorf("boltstore: %s has format version %d, this build reads %d", s.path, v[0], formatVersion)
		}
		return data, nil
	case meta != nil || data != nil:
		return nil, fmt.Errorf("boltstore: %s is %w: missing bucket", s.path, ErrCorrupt)
	}
	// No layout yet: only an empty bbolt file may become a store.
	if k, _ := tx.Cursor().First(); k != nil {
		return nil, fmt.Errorf("boltstore: %s is %w: a bbolt file with other buckets (%.40q)", s.path, ErrCorrupt, k)
	}
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return nil, err
	}
	if err := meta.Put(keyFormat, []byte{formatVersion}); err != nil {
		return nil, err
	}
	return tx.CreateBucket(bucketRetained)
}
