package cluster

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

// The bytes that travel through Redis. Every field is length-prefixed with
// a uvarint, so that decoding never trusts a length it has not checked
// against what is left: a corrupt or hostile payload on a node's channel
// is an error, not a panic or a large allocation.
//
// A batch, one PUBLISH on the destination node's channel:
//
//	version (1 byte) | origin node name | sent (uvarint, unix microseconds)
//	then records until the end, each: its length (uvarint), then
//	flags (1 byte: bit 0 retain) | ttl (uvarint ms) | topic | reply |
//	header | payload | group count (uvarint) | (filter | name) per group
//
// Forward appends records to the destination's queue, after a batch
// header when the queue was empty; the writer publishes the queue as it
// is, or cuts a long one into batches at record boundaries (the length
// prefix finds them without decoding), each behind the header.

const batchVersion = 1

var errFrame = errors.New("cluster: malformed frame")

func appendBytes(b []byte, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func fieldLen(n int) int { return uvarintLen(uint64(n)) + n }

// appendRecord appends m, with the queue groups chosen on the destination,
// as one record, length first.
func appendRecord(b []byte, m *broker.Message, groups []broker.QueueGroup) []byte {
	ttl := uint64(m.TTL / time.Millisecond)
	size := 1 + uvarintLen(ttl) + fieldLen(len(m.Topic)) + fieldLen(len(m.Reply)) +
		fieldLen(len(m.Header)) + fieldLen(len(m.Payload)) + uvarintLen(uint64(len(groups)))
	for _, g := range groups {
		size += fieldLen(len(g.Filter)) + fieldLen(len(g.Name))
	}
	b = binary.AppendUvarint(b, uint64(size))
	var flags byte
	if m.Retain {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, ttl)
	b = appendBytes(b, m.Topic)
	b = appendBytes(b, m.Reply)
	b = appendBytes(b, m.Header)
	b = appendBytes(b, m.Payload)
	b = binary.AppendUvarint(b, uint64(len(groups)))
	for _, g := range groups {
		b = appendString(b, g.Filter)
		b = appendString(b, g.Name)
	}
	return b
}

// appendBatchHeader starts a batch from origin.
func appendBatchHeader(b []byte, origin string, sent time.Time) []byte {
	b = append(b, batchVersion)
	b = appendString(b, origin)
	return binary.AppendUvarint(b, uint64(sent.UnixMicro()))
}

// batchHeaderLen is the length of the batch header that b, which we
// wrote, starts with.
func batchHeaderLen(b []byte) int {
	r := reader{b: b}
	r.byte()
	r.bytes()
	r.uvarint()
	return len(b) - len(r.b)
}

// reader takes fields off a frame.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errFrame
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errFrame
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// bytes returns the next field, aliasing the frame; nil when empty.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errFrame
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	if n == 0 {
		return nil
	}
	return s
}

func (r *reader) string() string { return string(r.bytes()) }

// batch is a decoded batch header; its records follow in rest.
type batch struct {
	origin string
	sent   time.Time
	rest   reader
}

func readBatch(b []byte) (batch, error) {
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != batchVersion {
		return batch{}, errors.New("cluster: unknown batch version")
	}
	origin := r.string()
	sent := r.uvarint()
	if r.err != nil || origin == "" {
		return batch{}, errFrame
	}
	return batch{origin: origin, sent: time.UnixMicro(int64(sent)), rest: r}, nil
}

// splitRecords returns how many bytes of q, whole records only, make up
// at most max bytes (at least one record, however large), and how many
// records that is.
func splitRecords(q []byte, max int) (n, records int) {
	for n < len(q) {
		size, k := binary.Uvarint(q[n:])
		end := n + k + int(size)
		if k <= 0 || end > len(q) {
			return len(q), records + 1 // cannot happen: we wrote q
		}
		if end > max && records > 0 {
			break
		}
		n, records = end, records+1
	}
	return n, records
}

// next decodes the next record into m and groups (reused between calls;
// m's slices alias the batch). It returns false at the end or on error
// (see err).
func (bt *batch) next(m *broker.Message, groups *[]broker.QueueGroup) bool {
	if bt.rest.err != nil || len(bt.rest.b) == 0 {
		return false
	}
	rec := bt.rest.bytes()
	if bt.rest.err != nil {
		return false
	}
	r := &reader{b: rec}
	flags := r.byte()
	ttl := r.uvarint()
	*m = broker.Message{Retain: flags&1 != 0, TTL: time.Duration(ttl) * time.Millisecond}
	m.Topic, m.Reply, m.Header, m.Payload = r.bytes(), r.bytes(), r.bytes(), r.bytes()
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b))/2 { // each group takes two bytes at least
		r.err = errFrame
	}
	*groups = (*groups)[:0]
	for range n {
		if r.err != nil {
			break
		}
		*groups = append(*groups, broker.QueueGroup{Filter: r.string(), Name: r.string()})
	}
	if ttl > uint64(365*24*time.Hour/time.Millisecond) || len(r.b) > 0 {
		r.err = errFrame // out of range, or bytes left over: not a record we wrote
	}
	bt.rest.err = r.err
	return r.err == nil
}

func (bt *batch) err() error { return bt.rest.err }
