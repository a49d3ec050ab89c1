package mqtt

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
)

// store keeps persistent sessions (those with an expiry) in a bbolt file,
// so that they survive a restart of the broker or of the plugin: the
// subscriptions, the messages in flight and queued, the QoS 2 packet
// identifiers received. Changes are written by one goroutine in group
// commits: every session changed since the last commit, in one
// transaction, so that a busy broker pays one fsync for many messages.
//
// The window: a message is in the file once the commit after its delivery
// to the session ends (one fsync, typically milliseconds). A publisher's
// acknowledgement means the broker routed the message; a crash between the
// two loses it for an offline session (docs/mqtt.md says so).
type store struct {
	db *bolt.DB

	mu      sync.Mutex
	dirty   map[string]*session // to write
	deleted map[string]bool     // to delete (before the writes)
	after   []func()            // called once the next commit has ended
	wake    chan struct{}
	done    chan struct{}
	stop    chan struct{}
}

var bucket = []byte("sessions")

func openStore(dir string) (*store, error) {
	path := filepath.Join(dir, "mqtt-sessions.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("mqtt session store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		db.Close()
		return nil, fmt.Errorf("mqtt session store %s: %w", path, err)
	}
	st := &store{db: db, dirty: map[string]*session{}, deleted: map[string]bool{},
		wake: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{})}
	go st.run()
	return st, nil
}

// mark queues s to be written (or deleted, if it no longer persists).
func (st *store) mark(s *session) {
	st.mu.Lock()
	st.dirty[s.id] = s
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// markThen is mark, and calls fn once s is written (or the write failed:
// the session goes on in memory either way). What the client is told
// only once it is on disk waits for fn.
func (st *store) markThen(s *session, fn func()) {
	st.mu.Lock()
	st.dirty[s.id] = s
	st.after = append(st.after, fn)
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// forget queues the deletion of the session of client id.
func (st *store) forget(id string) {
	st.mu.Lock()
	delete(st.dirty, id)
	st.deleted[id] = true
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

func (st *store) run() {
	defer close(st.done)
	for {
		select {
		case <-st.wake:
		case <-st.stop:
			st.commit()
			return
		}
		st.commit()
	}
}

// commit writes what changed since the last commit.
func (st *store) commit() {
	st.mu.Lock()
	dirty, deleted, after := st.dirty, st.deleted, st.after
	st.dirty, st.deleted, st.after = map[string]*session{}, map[string]bool{}, nil
	st.mu.Unlock()
	defer func() {
		for _, fn := range after {
			fn()
		}
	}()
	if len(dirty) == 0 && len(deleted) == 0 {
		return
	}
	recs := make(map[string][]byte, len(dirty))
	for id, s := range dirty {
		if b := s.snapshot(); b != nil {
			recs[id] = b
		} else {
			deleted[id] = true
		}
	}
	err := st.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for id := range deleted {
			if _, keep := recs[id]; !keep {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
			}
		}
		for id, rec := range recs {
			if err := b.Put([]byte(id), rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The sessions stay in memory; the next change tries again.
		st.mu.Lock()
		for id, s := range dirty {
			if _, newer := st.dirty[id]; !newer && !st.deleted[id] {
				st.dirty[id] = s
			}
		}
		st.mu.Unlock()
	}
}

// close writes what is pending and closes the file.
func (st *store) close() error {
	close(st.stop)
	<-st.done
	return st.db.Close()
}

// saved is a session as the store keeps it.
type saved struct {
	ID, User string
	Expiry   uint32
	ReplyTok string
	NextID   uint16
	Subs     []savedSub
	Inflight []savedMsg
	Queue    []savedMsg
	In2      []uint16 // QoS 2 publishes the broker has (PUBREC sent)
	Will     *savedWill
}

// savedWill is the will of a connection that ended, waiting for its delay.
type savedWill struct {
	Topic, Reply string
	Data         []byte
	Header       map[string][]string
	Retain       bool
	TTL          time.Duration
	Due          time.Time
}

type savedSub struct {
	Filter       string
	QoS          byte
	NoLocal, RAP bool
	ID           uint32
}

type savedMsg struct {
	Publish  []byte // the PUBLISH encoded at 5.0 (topic, payload, properties)
	Expires  time.Time
	Released bool
	Sent     bool
}

// snapshot encodes the session, or returns nil if it is not to be kept.
func (s *session) snapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended && !s.kept || s.expiry.Load() == 0 {
		return nil
	}
	sv := saved{ID: s.id, User: s.user, Expiry: s.expiry.Load(), ReplyTok: s.replyTok, NextID: s.nextID}
	for _, sub := range s.subs {
		sv.Subs = append(sv.Subs, savedSub{Filter: sub.filter, QoS: byte(sub.qos), NoLocal: sub.noLocal, RAP: sub.rap, ID: sub.id})
	}
	enc := func(om *outMsg) savedMsg {
		p := packet.Publish{QoS: om.qos, Retain: om.retain, Topic: om.topic, PacketID: om.id, Payload: om.payload}
		if p.PacketID == 0 {
			p.PacketID = 1 // queued, no identifier yet; restored without one
		}
		if om.props != nil {
			p.Props = *om.props
		}
		b, _ := p.Append(nil, packet.V5)
		return savedMsg{Publish: b, Expires: om.expires, Released: om.released, Sent: om.sent}
	}
	for _, om := range s.inflight {
		sv.Inflight = append(sv.Inflight, enc(om))
	}
	for _, om := range s.queue {
		sv.Queue = append(sv.Queue, enc(om))
	}
	if w := s.will; w != nil {
		sv.Will = &savedWill{Topic: w.Topic, Reply: w.Reply, Data: w.Data, Header: w.Header, Retain: w.Retain, TTL: w.TTL, Due: s.willDue}
	}
	for id, done := range s.in2 {
		if done {
			sv.In2 = append(sv.In2, id)
		}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&sv); err != nil {
		return nil
	}
	return buf.Bytes()
}

// load reads every kept session.
func (st *store) load() ([]saved, error) {
	var out []saved
	err := st.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var sv saved
			if err := gob.NewDecoder(bytes.NewReader(v)).Decode(&sv); err != nil {
				return fmt.Errorf("session %q: %w", k, err)
			}
			out = append(out, sv)
			return nil
		})
	})
	return out, err
}

// decodeMsg turns a saved message back into an outMsg.
func decodeMsg(m savedMsg, queued bool) (*outMsg, error) {
	r := packet.NewReader(bytes.NewReader(m.Publish), 0)
	r.SetVersion(packet.V5)
	pk, err := r.ReadPacket()
	if err != nil {
		return nil, err
	}
	p, ok := pk.(*packet.Publish)
	if !ok {
		return nil, fmt.Errorf("saved message is a %v", pk.Type())
	}
	om := &outMsg{qos: p.QoS, retain: p.Retain, topic: bytes.Clone(p.Topic), payload: bytes.Clone(p.Payload),
		expires: m.Expires, released: m.Released, sent: m.Sent}
	if !queued {
		om.id = p.PacketID
	}
	if !p.Props.Empty() {
		pr := p.Props // the slices alias the reader's buffer, which is ours alone
		om.props = &pr
	}
	return om, nil
}
