// Package cluster links msgtrans brokers into one over Redis: a Backplane
// implements the broker's cluster seam (broker.Forwarder and
// AckForwarder, an InterestListener, SetRemoteInterest, DropNode,
// DeliverRemote) with go-redis, and Store keeps retained messages in Redis
// for every node. docs/cluster.md says what users get.
//
// Layout in Redis, under a prefix (default "msgtrans"):
//
//	<p>:nodes            sorted set: node name -> last heartbeat (Redis time, ms)
//	<p>:interest:<node>  hash: one field per (filter, queue) with local
//	                     subscribers, plus #epoch and #seq; expires unless
//	                     the node heartbeats
//	<p>:ctl              channel: heartbeats, interest changes, goodbyes
//	<p>:msgs:<node>      channel: batches of messages for that node
//
// A node subscribes to its own message channel and to ctl. It learns every
// other node's interest from its hash and from the changes on ctl, so it
// forwards a message only to nodes that want it, as one record in a batch
// per destination node, one PUBLISH per batch.
package cluster

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/internal/batchq"
)

// Defaults of Options.
const (
	DefaultNodeTimeout = 5 * time.Second
	DefaultMaxPending  = 8 << 20
	DefaultPrefix      = "msgtrans"
	// maxBatch is the most bytes of records put in one PUBLISH (one record
	// larger than that goes alone): large enough that a busy link sends
	// few commands, small enough that Redis never holds a huge argument.
	maxBatch = 256 << 10
)

// Options configure a Backplane.
type Options struct {
	// Name is this node's name in the cluster, unique among the nodes on
	// one Redis and prefix: a word without spaces, at most 128 bytes.
	Name string
	// Prefix namespaces the keys and channels, so that several clusters
	// can share one Redis. Default DefaultPrefix.
	Prefix string
	// NodeTimeout is how long a node may go unheard (no heartbeat) before
	// the others drop it from their interest; heartbeats go out four times
	// per timeout. It is also how long this node waits on a silent Redis
	// before it reconnects. Default DefaultNodeTimeout.
	NodeTimeout time.Duration
	// MaxPending bounds, in bytes, what waits to be published to one
	// other node; beyond it messages for that node are dropped and counted
	// (Stats.Dropped), as a slow consumer's would be. Default
	// DefaultMaxPending.
	MaxPending int
	// OnEvent, if set, hears of changes worth a log line. It is called from
	// the backplane's goroutines and must not block.
	OnEvent func(Event)
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	LinkUp    EventKind = iota // connected to Redis and resynchronized
	LinkDown                   // lost Redis (Err says why); local traffic goes on
	NodeUp                     // another node joined (or came back)
	NodeDown                   // another node left, or was not heard for NodeTimeout
	NameClash                  // another process writes this node's interest: two nodes share a name
)

// Event is something the backplane reports to its owner.
type Event struct {
	Kind EventKind
	Node string // the other node, for NodeUp and NodeDown
	Err  error  // LinkDown's cause; NodeDown's reason
}

// ValidateName checks a node name.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > 128:
		return errors.New("is longer than 128 bytes")
	case strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("%q contains a space or control character", name)
	}
	return nil
}

// Backplane is one node's link to the others. Create it with New, run it
// with Run.
type Backplane struct {
	b    *broker.Broker
	rdb  *redis.Client
	opts Options
	keys keys

	writers sync.Map // node name -> *writer
	wmu     sync.Mutex
	wg      sync.WaitGroup // writer goroutines
	closing bool           // under wmu: writers start no goroutine

	local localInterest
	peers peers

	link   linkState
	everUp bool // the link came up once; connect's goroutine only
	counts counters
}

// New makes a backplane for b over rdb. It does nothing until Run.
func New(b *broker.Broker, rdb *redis.Client, opts Options) (*Backplane, error) {
	if err := ValidateName(opts.Name); err != nil {
		return nil, fmt.Errorf("cluster: name %w", err)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.NodeTimeout == 0 {
		opts.NodeTimeout = DefaultNodeTimeout
	}
	if opts.NodeTimeout < 100*time.Millisecond {
		return nil, fmt.Errorf("cluster: node timeout %v is under 100ms", opts.NodeTimeout)
	}
	if opts.MaxPending == 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.MaxPending < 0 {
		return nil, errors.New("cluster: negative max pending")
	}
	p := &Backplane{b: b, rdb: rdb, opts: opts, keys: newKeys(opts.Prefix)}
	p.local.init()
	p.peers.init()
	p.link.set(errors.New("cluster: not connected to redis yet"))
	return p, nil
}

// Name is this node's name.
func (p *Backplane) Name() string { return p.opts.Name }

// Run links the broker to the cluster until ctx ends, then flushes what
// waits to be forwarded, tells the others it leaves, detaches from the
// broker and returns. A lost Redis is not an error: Run reconnects with
// backoff until ctx ends.
func (p *Backplane) Run(ctx context.Context) error {
	detach := p.b.AttachBackplane(p)
	stopWatch := p.b.WatchInterest(&p.local)
	var wg sync.WaitGroup
	for _, fn := range []func(context.Context){p.connect, p.publishInterest, p.heartbeat} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx)
		}()
	}
	<-ctx.Done()
	stopWatch()
	wg.Wait()
	// Forward what publishers handed over, then leave.
	p.wmu.Lock()
	p.closing = true
	p.wmu.Unlock()
	p.writers.Range(func(_, v any) bool {
		v.(*writer).q.Close(nil)
		return true
	})
	p.wg.Wait()
	p.leave()
	detach()
	return nil
}

// leave removes this node from Redis, so that the others drop it at once
// rather than after NodeTimeout.
func (p *Backplane) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.NodeTimeout)
	defer cancel()
	p.local.wmu.Lock()
	defer p.local.wmu.Unlock()
	pipe := p.rdb.TxPipeline()
	pipe.Del(ctx, p.keys.interest(p.opts.Name))
	pipe.ZRem(ctx, p.keys.nodes, p.opts.Name)
	pipe.Publish(ctx, p.keys.ctl, "b "+p.opts.Name+" "+strconv.FormatUint(p.local.epoch, 10))
	pipe.Exec(ctx) // best effort: the others time this node out anyway
}

type keys struct {
	nodes, ctl, interestPrefix, msgsPrefix string
}

func newKeys(prefix string) keys {
	return keys{
		nodes:          prefix + ":nodes",
		ctl:            prefix + ":ctl",
		interestPrefix: prefix + ":interest:",
		msgsPrefix:     prefix + ":msgs:",
	}
}

func (k keys) interest(node string) string { return k.interestPrefix + node }
func (k keys) msgs(node string) string     { return k.msgsPrefix + node }

// linkState is whether Redis is reachable, for Err.
type linkState struct {
	err atomic.Pointer[error]
}

func (l *linkState) set(err error) {
	if err == nil {
		l.err.Store(nil)
		return
	}
	l.err.Store(&err)
}

// Err is nil while the node is linked to the cluster through Redis, and
// otherwise says why not: what a health check reports. While it is not nil
// the node serves its local clients alone.
func (p *Backplane) Err() error {
	if e := p.link.err.Load(); e != nil {
		return *e
	}
	return nil
}

func (p *Backplane) event(e Event) {
	if p.opts.OnEvent != nil {
		p.opts.OnEvent(e)
	}
}

func newEpoch() uint64 {
	var b [8]byte
	crand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1 // fits an int64, for Lua and Redis
}

// writer queues the records for one other node and publishes them on its
// channel, many per PUBLISH, one goroutine per node while there is data:
// a node whose Redis writes are slow holds up only its own queue.
type writer struct {
	p       *Backplane
	channel string
	q       batchq.Queue[byte]

	// Publishers waiting for their acks: each waits until the queue's bytes
	// up to its record's end have been published.
	queued  uint64 // bytes ever queued; under q's lock
	written uint64 // bytes ever handed to Redis; writer goroutine only
	amu     sync.Mutex
	acks    []pendingAck
}

type pendingAck struct {
	end  uint64 // w.queued after the record
	done func(error)
}

func (p *Backplane) writer(node string) *writer {
	if w, ok := p.writers.Load(node); ok {
		return w.(*writer)
	}
	w := &writer{p: p, channel: p.keys.msgs(node)}
	w.q.Init(batchq.Config[byte]{Write: w.write, KeepCap: maxBatch, Go: p.goWriter})
	actual, _ := p.writers.LoadOrStore(node, w)
	return actual.(*writer)
}

func (p *Backplane) goWriter(run func()) bool {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closing {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		run()
	}()
	return true
}

// Forward implements broker.Forwarder: it queues m for node without
// waiting, or drops and counts it when node's queue is full.
func (p *Backplane) Forward(node string, m *broker.Message, groups []broker.QueueGroup) {
	p.forward(node, m, groups, nil)
}

// ForwardAck implements broker.AckForwarder: done is called once the batch
// holding m has been published to Redis, or with broker.ErrForward when m
// was dropped.
func (p *Backplane) ForwardAck(node string, m *broker.Message, groups []broker.QueueGroup, done func(error)) {
	p.forward(node, m, groups, done)
}

func (p *Backplane) forward(node string, m *broker.Message, groups []broker.QueueGroup, done func(error)) {
	w := p.writer(node)
	items, ok := w.q.Lock()
	if !ok {
		p.drop(m, done, "the node's link is closing")
		return
	}
	start := len(items)
	if start == 0 {
		// The queue starts with the batch header, so that the writer can
		// publish the queue as it is, without copying it behind one.
		items = appendBatchHeader(items, p.opts.Name, time.Now())
	}
	items = appendRecord(items, m, groups)
	if start > 0 && len(items) > p.opts.MaxPending {
		w.q.Unlock(items[:start])
		p.drop(m, done, "its queue is full")
		return
	}
	w.queued += uint64(len(items) - start)
	if done != nil {
		// Under the queue's lock, so acks are listed in queue order.
		w.amu.Lock()
		w.acks = append(w.acks, pendingAck{end: w.queued, done: done})
		w.amu.Unlock()
	}
	w.q.Unlock(items)
}

func (p *Backplane) drop(m *broker.Message, done func(error), why string) {
	p.counts.dropped.Add(1)
	if done != nil {
		done(fmt.Errorf("%w: %s", broker.ErrForward, why))
	}
}

// answer calls the acks of the records up to w.written, with err.
func (w *writer) answer(err error) {
	w.amu.Lock()
	i := 0
	for i < len(w.acks) && w.acks[i].end <= w.written {
		i++
	}
	due := w.acks[:i:i]
	w.acks = w.acks[i:]
	if len(w.acks) == 0 {
		w.acks = nil // let the array go
	}
	w.amu.Unlock()
	for _, a := range due {
		a.done(err)
	}
}

// write publishes the queued records in batches of at most maxBatch
// bytes, all in one round trip. A batch Redis does not take is dropped and
// counted: nothing is retried, so that a message is never delivered twice
// and a dead Redis never holds up the publishers.
func (w *writer) write(q []byte) (int, error) {
	p := w.p
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.NodeTimeout)
	defer cancel()
	pipe := p.rdb.Pipeline()
	// q is a batch header, then records. The first batch is q itself up to
	// maxBatch; only a longer queue is cut, the rest copied behind a copy
	// of the header.
	hdr := q[:batchHeaderLen(q)]
	n, msgs := splitRecords(q[len(hdr):], maxBatch)
	pipe.Publish(ctx, w.channel, q[:len(hdr)+n])
	for off := len(hdr) + n; off < len(q); {
		n, recs := splitRecords(q[off:], maxBatch)
		pipe.Publish(ctx, w.channel, append(slices.Clip(hdr), q[off:off+n]...))
		off += n
		msgs += recs
	}
	batches := pipe.Len()
	_, err := pipe.Exec(ctx)
	w.written += uint64(len(q))
	if err != nil {
		p.counts.dropped.Add(uint64(msgs))
		w.answer(fmt.Errorf("%w: redis: %w", broker.ErrForward, err))
		return len(q), nil
	}
	p.counts.msgsOut.Add(uint64(msgs))
	p.counts.bytesOut.Add(uint64(len(q)))
	p.counts.batchesOut.Add(uint64(batches))
	w.answer(nil)
	return len(q), nil
}
