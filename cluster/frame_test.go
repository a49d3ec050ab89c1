package cluster

import (
	"bytes"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

func TestBatchRoundTrip(t *testing.T) {
	in := []struct {
		m      broker.Message
		groups []broker.QueueGroup
	}{
		{broker.Message{Topic: []byte("a.b"), Reply: []byte("_INBOX.1"), Header: []byte{1, 2}, Payload: []byte("x"), Retain: true, TTL: 1500 * time.Millisecond}, nil},
		{broker.Message{Topic: []byte("c"), Payload: bytes.Repeat([]byte("y"), 300)}, []broker.QueueGroup{{Filter: "c", Name: "g"}, {Filter: ">", Name: "h"}}},
	}
	var q []byte
	for _, r := range in {
		q = appendRecord(q, &r.m, r.groups)
	}
	// A limit below one record still takes one; the split is at records.
	if n, recs := splitRecords(q, 10); recs != 1 || n >= len(q) {
		t.Fatalf("split at 10: %d bytes, %d records", n, recs)
	}
	if n, recs := splitRecords(q, len(q)); recs != 2 || n != len(q) {
		t.Fatalf("split whole: %d bytes, %d records", n, recs)
	}
	b := append(appendBatchHeader(nil, "node-1", time.UnixMicro(42)), q...)
	bt, err := readBatch(b)
	if err != nil || bt.origin != "node-1" || bt.sent.UnixMicro() != 42 {
		t.Fatalf("header %+v, %v", bt, err)
	}
	var m broker.Message
	var groups []broker.QueueGroup
	for i, r := range in {
		if !bt.next(&m, &groups) {
			t.Fatalf("record %d: %v", i, bt.err())
		}
		if !bytes.Equal(m.Topic, r.m.Topic) || !bytes.Equal(m.Reply, r.m.Reply) || !bytes.Equal(m.Header, r.m.Header) ||
			!bytes.Equal(m.Payload, r.m.Payload) || m.Retain != r.m.Retain || m.TTL != r.m.TTL || len(groups) != len(r.groups) {
			t.Fatalf("record %d: got %+v %v", i, m, groups)
		}
	}
	if bt.next(&m, &groups) || bt.err() != nil {
		t.Fatalf("after the last record: %v", bt.err())
	}
}

// Whatever arrives on a node's channel decodes or errs; it never panics or
// allocates by a length it has not checked.
func FuzzReadBatch(f *testing.F) {
	m := broker.Message{Topic: []byte("a"), Payload: []byte("p")}
	f.Add(append(appendBatchHeader(nil, "n", time.Now()), appendRecord(nil, &m, []broker.QueueGroup{{Filter: "a", Name: "q"}})...))
	f.Add([]byte{1, 1, 'n', 0, 200, 200, 200, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		bt, err := readBatch(b)
		if err != nil {
			return
		}
		var m broker.Message
		var groups []broker.QueueGroup
		for bt.next(&m, &groups) {
		}
	})
}
