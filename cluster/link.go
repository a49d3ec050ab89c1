package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/msgtrans/msgtrans/broker"
)

var (
	errHashGone  = errors.New("cluster: this node's interest expired in redis")
	errNameClash = errors.New("cluster: another node announced under this node's name")
	errSilent    = errors.New("cluster: redis silent for the node timeout")
)

// connect keeps the node linked to Redis until ctx ends: subscribe,
// announce, read the others' interest, then receive; after any failure,
// again, with backoff. While it is down, Err says why and other nodes
// time this one out.
func (p *Backplane) connect(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for attempt := 0; ctx.Err() == nil; attempt++ {
		start := time.Now()
		wasUp, err := p.session(ctx)
		if ctx.Err() != nil {
			return
		}
		p.link.set(fmt.Errorf("cluster: redis: %w", err))
		if wasUp || attempt == 0 {
			// Once per outage, not once per retry.
			p.event(Event{Kind: LinkDown, Err: err})
		}
		if wasUp && time.Since(start) > 10*time.Second {
			backoff = 50 * time.Millisecond // it was up a while: retry soon
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// session is one connection's life: it returns whether the link came up,
// and why it ended.
func (p *Backplane) session(ctx context.Context) (up bool, err error) {
	err = p.sessionUp(ctx, &up)
	return up, err
}

func (p *Backplane) sessionUp(ctx context.Context, up *bool) error {
	ps := p.rdb.Subscribe(ctx)
	defer ps.Close()
	// go-redis does not end a blocked receive when ctx ends: closing does.
	defer context.AfterFunc(ctx, func() { ps.Close() })()
	p.peers.setSub(ps)
	defer p.peers.setSub(nil)
	mine := p.keys.msgs(p.opts.Name)
	if err := ps.Subscribe(ctx, mine, p.keys.ctl); err != nil {
		return err
	}
	for range 2 {
		if _, err := ps.ReceiveTimeout(ctx, p.opts.NodeTimeout); err != nil {
			return err
		}
	}
	// Subscribed first, then announced and read: a change made meanwhile
	// is heard on ctl, and its #seq says whether the read already had it.
	if err := p.announce(ctx); err != nil {
		return err
	}
	if err := p.resyncAll(ctx); err != nil {
		return err
	}
	if p.everUp {
		p.counts.reconnects.Add(1)
	}
	p.everUp, *up = true, true
	p.link.set(nil)
	p.event(Event{Kind: LinkUp})
	var (
		m      broker.Message
		groups []broker.QueueGroup
	)
	for {
		// This node's own heartbeat comes on ctl four times per timeout:
		// silence that long means the connection is dead.
		msg, err := ps.ReceiveTimeout(ctx, p.opts.NodeTimeout)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				return errSilent
			}
			return err
		}
		switch msg := msg.(type) {
		case *redis.Message:
			if msg.Channel == mine {
				p.receive(msg.Payload, &m, &groups)
			} else if err := p.control(ctx, msg.Payload); err != nil {
				return err
			}
		case *redis.Subscription:
			if msg.Kind == "unsubscribe" {
				return errors.New("unsubscribed")
			}
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// breakLink ends the current session, so that connect starts over and
// announces everything afresh.
func (p *Backplane) breakLink(err error) {
	if ps := p.peers.sub(); ps != nil {
		ps.Close()
	}
}

// receive delivers a batch from another node to this broker's subscribers.
func (p *Backplane) receive(payload string, m *broker.Message, groups *[]broker.QueueGroup) {
	// Read in place: the broker copies what it keeps (a Message's slices
	// are only valid during the call) and writes none of them.
	b := unsafe.Slice(unsafe.StringData(payload), len(payload))
	bt, err := readBatch(b)
	if err != nil {
		p.counts.badFrames.Add(1)
		return
	}
	if lag := time.Since(bt.sent); lag > 0 {
		p.counts.lagMicros.Store(lag.Microseconds())
	}
	n := 0
	for bt.next(m, groups) {
		n++
		if _, err := p.b.DeliverRemote(bt.origin, m, *groups); err != nil {
			p.counts.badFrames.Add(1) // a topic this node refuses
		}
	}
	if bt.err() != nil {
		p.counts.badFrames.Add(1)
	}
	p.counts.msgsIn.Add(uint64(n))
	p.counts.bytesIn.Add(uint64(len(payload)))
	p.counts.batchesIn.Add(1)
}

// control handles a message on ctl: h (heartbeat), d (interest change) or
// b (goodbye), each with the node's name, epoch and, but for b, #seq.
func (p *Backplane) control(ctx context.Context, payload string) error {
	f := strings.SplitN(payload, " ", 5)
	if len(f) < 3 || f[1] == p.opts.Name {
		return nil // ours (or garbage): our heartbeat only proves the link alive
	}
	node := f[1]
	epoch, err1 := strconv.ParseUint(f[2], 10, 64)
	var seq uint64
	var err2 error
	if len(f) > 3 {
		seq, err2 = strconv.ParseUint(f[3], 10, 64)
	}
	if err1 != nil || err2 != nil {
		p.counts.badFrames.Add(1)
		return nil
	}
	switch f[0] {
	case "b":
		p.peers.drop(p, node, epoch, errors.New("left the cluster"))
		return nil
	case "h":
		if p.peers.heard(node, epoch, seq) {
			return nil
		}
	case "d":
		if len(f) < 5 {
			p.counts.badFrames.Add(1)
			return nil
		}
		if p.peers.apply(p, node, epoch, seq, f[4]) {
			return nil
		}
	default:
		return nil
	}
	// A node we do not know, a new epoch, or a gap in its changes: read its
	// whole interest.
	return p.resync(ctx, node)
}

// resyncAll reads the interest of every node in the nodes set, and drops
// the nodes known here that are no longer in it.
func (p *Backplane) resyncAll(ctx context.Context) error {
	names, err := p.rdb.ZRange(ctx, p.keys.nodes, 0, -1).Result()
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, n := range names {
		if n == p.opts.Name {
			continue
		}
		live[n] = true
		if err := p.resync(ctx, n); err != nil {
			return err
		}
	}
	for _, n := range p.peers.names() {
		if !live[n] {
			p.peers.drop(p, n, 0, errors.New("no longer in redis"))
		}
	}
	return nil
}

// resync reads node's whole interest hash and makes the broker's record
// of node's interest equal to it. It reads #epoch and #seq first, then
// the fields with HSCAN, which does not hold Redis up for a large hash the
// way HGETALL would. A change made during the scan may or may not be in
// it, but its number is above #seq, so it arrives on ctl after this and is
// applied again; an announcement made during the scan has a new epoch,
// which makes this node read the hash again.
func (p *Backplane) resync(ctx context.Context, node string) error {
	key := p.keys.interest(node)
	head, err := p.rdb.HMGet(ctx, key, "#epoch", "#seq").Result()
	if err != nil {
		return err
	}
	es, _ := head[0].(string)
	ss, _ := head[1].(string)
	epoch, err1 := strconv.ParseUint(es, 10, 64)
	seq, err2 := strconv.ParseUint(ss, 10, 64)
	if err1 != nil || err2 != nil {
		// Gone (expired or left), or not written by us.
		p.peers.drop(p, node, 0, errors.New("its interest is gone from redis"))
		return nil
	}
	set := make(map[iKey]struct{})
	var cursor uint64
	for {
		kv, next, err := p.rdb.HScan(ctx, key, cursor, "", 1024).Result()
		if err != nil {
			return err
		}
		for i := 0; i < len(kv); i += 2 {
			if k, ok := parseField(kv[i]); ok {
				set[k] = struct{}{}
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	p.peers.replace(p, node, epoch, seq, set)
	return nil
}

// peers is what this node knows of the others: their interest, as given
// to the broker, and when each was last heard.
type peers struct {
	mu    sync.Mutex
	nodes map[string]*peer
	ps    *redis.PubSub // the current session's, for breakLink
}

type peer struct {
	epoch, seq uint64
	interest   map[iKey]struct{}
	lastSeen   time.Time
}

func (s *peers) init() { s.nodes = make(map[string]*peer) }

func (s *peers) setSub(ps *redis.PubSub) {
	s.mu.Lock()
	s.ps = ps
	s.mu.Unlock()
}

func (s *peers) sub() *redis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ps
}

func (s *peers) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.nodes))
	for n := range s.nodes {
		out = append(out, n)
	}
	return out
}

func (s *peers) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.nodes)
}

// interestOf is how many (filter, queue) node has interest in, as known
// here; -1 for a node not known.
func (s *peers) interestOf(node string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pe := s.nodes[node]; pe != nil {
		return len(pe.interest)
	}
	return -1
}

// heard records a heartbeat and reports whether node's interest is known
// up to date (same epoch and #seq).
func (s *peers) heard(node string, epoch, seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	pe := s.nodes[node]
	if pe == nil {
		return false
	}
	pe.lastSeen = time.Now()
	return pe.epoch == epoch && pe.seq == seq
}

// apply applies an interest change of node if it is the next one, and
// reports whether node's interest is known up to date after it.
func (s *peers) apply(p *Backplane, node string, epoch, seq uint64, body string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	pe := s.nodes[node]
	if pe == nil || pe.epoch != epoch {
		return false
	}
	pe.lastSeen = time.Now()
	if seq <= pe.seq {
		return true // the hash we read had it already
	}
	if seq != pe.seq+1 {
		return false
	}
	r := reader{b: []byte(body)}
	n := r.uvarint()
	for range n {
		present := r.byte() == 1
		k := iKey{filter: r.string(), queue: r.string()}
		if r.err != nil {
			p.counts.badFrames.Add(1)
			return false
		}
		if _, had := pe.interest[k]; had == present {
			continue
		}
		if present {
			if p.b.SetRemoteInterest(node, k.filter, k.queue, true) != nil {
				continue // a filter this broker refuses routes nothing
			}
			pe.interest[k] = struct{}{}
		} else {
			p.b.SetRemoteInterest(node, k.filter, k.queue, false)
			delete(pe.interest, k)
		}
	}
	pe.seq = seq
	return true
}

// replace makes node's recorded interest set.
func (s *peers) replace(p *Backplane, node string, epoch, seq uint64, set map[iKey]struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pe := s.nodes[node]
	if pe == nil {
		pe = &peer{interest: map[iKey]struct{}{}}
		s.nodes[node] = pe
		p.event(Event{Kind: NodeUp, Node: node})
	}
	pe.epoch, pe.seq, pe.lastSeen = epoch, seq, time.Now()
	for k := range pe.interest {
		if _, ok := set[k]; !ok {
			p.b.SetRemoteInterest(node, k.filter, k.queue, false)
			delete(pe.interest, k)
		}
	}
	for k := range set {
		if _, ok := pe.interest[k]; !ok && p.b.SetRemoteInterest(node, k.filter, k.queue, true) == nil {
			pe.interest[k] = struct{}{}
		}
	}
}

// drop forgets node (only the announcement epoch, if not zero): the
// broker stops routing to it at once.
func (s *peers) drop(p *Backplane, node string, epoch uint64, why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pe := s.nodes[node]
	if pe == nil || epoch != 0 && pe.epoch != epoch {
		return
	}
	delete(s.nodes, node)
	p.b.DropNode(node)
	// Its writer goes too (after sending what it holds): names are often
	// per start, and a writer keeps a buffer.
	if w, ok := p.writers.LoadAndDelete(node); ok {
		w.(*writer).q.Close(nil)
	}
	p.event(Event{Kind: NodeDown, Node: node, Err: why})
}

// expire drops the nodes not heard for timeout.
func (s *peers) expire(p *Backplane, timeout time.Duration) {
	s.mu.Lock()
	var dead []string
	for n, pe := range s.nodes {
		if time.Since(pe.lastSeen) > timeout {
			dead = append(dead, n)
		}
	}
	s.mu.Unlock()
	for _, n := range dead {
		p.peers.drop(p, n, 0, fmt.Errorf("not heard for %v", timeout))
	}
}

// heartbeat beats four times per node timeout, and drops the nodes not
// heard for a timeout: also all of them while Redis is unreachable, so
// that this node serves its own clients alone rather than forward into
// nothing.
func (p *Backplane) heartbeat(ctx context.Context) {
	t := time.NewTicker(p.opts.NodeTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.local.wmu.Lock()
		err := p.beatLocked(ctx)
		p.local.wmu.Unlock()
		if err != nil && ctx.Err() == nil && (errors.Is(err, errHashGone) || errors.Is(err, errNameClash)) {
			p.breakLink(err)
		}
		p.peers.expire(p, p.opts.NodeTimeout)
	}
}
