package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

// A record is the value stored under a topic's key:
//
//	u8  version (recordVersion)
//	u64 expires, unix nanoseconds, big endian; 0 means never
//	u32 header length, big endian
//	    header
//	    payload (the rest, never empty: an empty payload is a delete)
const (
	recordVersion = 1
	recordFixed   = 1 + 8 + 4
)

// errBadRecord is wrapped by decodeRecord's errors.
var errBadRecord = errors.New("bad record")

// entry is one retained message as the store keeps it in memory. rec is the
// encoded record, exactly what is (or will be) on disk; header and payload
// are read-only views into it. An entry never changes once built.
type entry struct {
	rec     []byte
	header  []byte
	payload []byte
	expires int64 // unix nanoseconds, 0 = never
}

// newEntry encodes a message into a fresh record; it keeps no reference to
// header or payload.
func newEntry(header, payload []byte, expires int64) *entry {
	rec := make([]byte, recordFixed+len(header)+len(payload))
	rec[0] = recordVersion
	binary.BigEndian.PutUint64(rec[1:9], uint64(expires))
	binary.BigEndian.PutUint32(rec[9:13], uint32(len(header)))
	copy(rec[recordFixed:], header)
	copy(rec[recordFixed+len(header):], payload)
	return entryOf(rec, len(header), expires)
}

// decodeEntry checks a record read from disk and returns an entry holding a
// copy of it (v points into bbolt's mmap and is only valid in its tx).
func decodeEntry(v []byte) (*entry, error) {
	if len(v) < recordFixed {
		return nil, fmt.Errorf("%w: %d bytes is too short", errBadRecord, len(v))
	}
	if v[0] != recordVersion {
		return nil, fmt.Errorf("%w: unknown record version %d", errBadRecord, v[0])
	}
	expires := binary.BigEndian.Uint64(v[1:9])
	if expires > math.MaxInt64 {
		return nil, fmt.Errorf("%w: expiry %d out of range", errBadRecord, expires)
	}
	hlen := binary.BigEndian.Uint32(v[9:13])
	if uint64(hlen) >= uint64(len(v)-recordFixed) {
		// The header must fit and leave a non-empty payload.
		return nil, fmt.Errorf("%w: header length %d in a %d byte record", errBadRecord, hlen, len(v))
	}
	rec := append([]byte(nil), v...)
	return entryOf(rec, int(hlen), int64(expires)), nil
}

func entryOf(rec []byte, hlen int, expires int64) *entry {
	e := &entry{rec: rec, expires: expires}
	if hlen > 0 {
		e.header = rec[recordFixed : recordFixed+hlen : recordFixed+hlen]
	}
	e.payload = rec[recordFixed+hlen : len(rec) : len(rec)]
	return e
}

// message is e stored under topic as the broker sees it. Its Header and
// Payload are views of e's record: read-only.
func (e *entry) message(topic string) broker.RetainedMessage {
	return broker.RetainedMessage{Topic: topic, Header: e.header, Payload: e.payload, Expires: e.expiresTime()}
}

// expiresTime returns e's expiry as a time.Time, zero for never.
func (e *entry) expiresTime() time.Time {
	if e.expires == 0 {
		return time.Time{}
	}
	return time.Unix(0, e.expires)
}

// expiryNanos converts an expiry time to the record's form: 0 for the zero
// time (never); a time before 1970 becomes 1 (long expired); a time past
// what int64 nanoseconds can hold (year 2262) becomes never.
func expiryNanos(t time.Time) int64 {
	switch {
	case t.IsZero(), t.Unix() >= math.MaxInt64/int64(time.Second):
		return 0
	case t.Unix() < 0:
		return 1
	}
	return max(t.UnixNano(), 1)
}
