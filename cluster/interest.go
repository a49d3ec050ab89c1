package cluster

import (
	"context"
	"encoding/binary"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// iKey is one (filter, queue group) with subscribers.
type iKey struct{ filter, queue string }

// field is iKey's field in a node's interest hash: the filter, length
// first, then the queue. It never equals #epoch or #seq: a field starting
// with '#' (a length of 35) is at least 36 bytes long.
func (k iKey) field() string {
	b := binary.AppendUvarint(make([]byte, 0, len(k.filter)+len(k.queue)+2), uint64(len(k.filter)))
	return string(append(append(b, k.filter...), k.queue...))
}

func parseField(f string) (iKey, bool) {
	r := reader{b: []byte(f)}
	filter := r.string()
	if r.err != nil || filter == "" {
		return iKey{}, false
	}
	return iKey{filter: filter, queue: string(r.b)}, true
}

type change struct {
	key     iKey
	present bool
}

// localInterest is this node's interest: the broker's InterestListener
// queues changes (it runs under the broker's interest lock, so it only
// appends), and publishInterest writes them to Redis.
type localInterest struct {
	mu      sync.Mutex
	pending []change
	signal  chan struct{} // one token: pending has changes

	// Under wmu, which orders every write of this node's interest and
	// heartbeat to Redis:
	wmu       sync.Mutex
	mine      map[iKey]struct{}
	epoch     uint64 // this node's current announcement; new at each (re)connect
	seq       uint64 // changes published under epoch
	announced bool   // Redis holds mine under epoch; false while the link is down
}

func (l *localInterest) init() {
	l.signal = make(chan struct{}, 1)
	l.mine = make(map[iKey]struct{})
}

// InterestChanged implements broker.InterestListener.
func (l *localInterest) InterestChanged(filter, queue string, present bool) {
	l.mu.Lock()
	l.pending = append(l.pending, change{iKey{filter, queue}, present})
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

// takeLocked applies the queued changes to mine and returns them. wmu is
// held.
func (l *localInterest) takeLocked() []change {
	l.mu.Lock()
	ch := l.pending
	l.pending = nil
	l.mu.Unlock()
	for _, c := range ch {
		if c.present {
			l.mine[c.key] = struct{}{}
		} else {
			delete(l.mine, c.key)
		}
	}
	return ch
}

// announce writes this node's whole interest to Redis under a new epoch,
// and heartbeats once: the others see the new epoch and read the hash.
func (p *Backplane) announce(ctx context.Context) error {
	l := &p.local
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.takeLocked()
	l.epoch, l.seq = newEpoch(), 0
	key := p.keys.interest(p.opts.Name)
	args := make([]any, 0, 4+2*len(l.mine))
	args = append(args, "#epoch", strconv.FormatUint(l.epoch, 10), "#seq", "0")
	for k := range l.mine {
		args = append(args, k.field(), "")
	}
	pipe := p.rdb.TxPipeline()
	pipe.Del(ctx, key)
	pipe.HSet(ctx, key, args...)
	pipe.PExpire(ctx, key, p.opts.NodeTimeout)
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	l.announced = true
	return p.beatLocked(ctx)
}

// publishInterest writes local interest changes as they come, many in one
// transaction: the hash and the change on ctl together, so that a node
// reading the hash and one hearing the change agree on its #seq.
func (p *Backplane) publishInterest(ctx context.Context) {
	l := &p.local
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.signal:
		}
		if err := p.flushInterest(ctx); err != nil && ctx.Err() == nil {
			// The others may have missed the change: reconnect, which
			// announces everything under a new epoch.
			p.breakLink(err)
		}
	}
}

func (p *Backplane) flushInterest(ctx context.Context) error {
	l := &p.local
	l.wmu.Lock()
	defer l.wmu.Unlock()
	changes := l.takeLocked()
	if len(changes) == 0 || !l.announced {
		return nil // the next announce writes them
	}
	key := p.keys.interest(p.opts.Name)
	l.seq++
	msg := []byte("d " + p.opts.Name + " " + strconv.FormatUint(l.epoch, 10) + " " + strconv.FormatUint(l.seq, 10) + " ")
	msg = binary.AppendUvarint(msg, uint64(len(changes)))
	pipe := p.rdb.TxPipeline()
	for _, c := range changes {
		var present byte
		if c.present {
			present = 1
			pipe.HSet(ctx, key, c.key.field(), "")
		} else {
			pipe.HDel(ctx, key, c.key.field())
		}
		msg = append(msg, present)
		msg = appendString(msg, c.key.filter)
		msg = appendString(msg, c.key.queue)
	}
	pipe.HSet(ctx, key, "#seq", strconv.FormatUint(l.seq, 10))
	pipe.PExpire(ctx, key, p.opts.NodeTimeout)
	pipe.Publish(ctx, p.keys.ctl, msg)
	if _, err := pipe.Exec(ctx); err != nil {
		l.announced = false
		return err
	}
	return nil
}

// beatScript is one heartbeat, atomic in Redis: it keeps the node's
// interest hash alive, records the node in the nodes set at Redis's own
// time (no clock of ours is compared with another's), forgets nodes not
// heard for the timeout, and tells everyone the epoch and #seq the hash
// holds now. It returns the hash's epoch, or false when the hash is gone
// (it expired while this node was cut off).
var beatScript = redis.NewScript(`
local e = redis.call('HGET', KEYS[2], '#epoch')
if not e then return false end
local s = redis.call('HGET', KEYS[2], '#seq')
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PUBLISH', KEYS[3], 'h ' .. ARGV[1] .. ' ' .. e .. ' ' .. s)
return e
`)

// beatLocked sends one heartbeat. wmu is held.
func (p *Backplane) beatLocked(ctx context.Context) error {
	l := &p.local
	if !l.announced {
		return nil
	}
	res, err := beatScript.Run(ctx, p.rdb,
		[]string{p.keys.nodes, p.keys.interest(p.opts.Name), p.keys.ctl},
		p.opts.Name, p.opts.NodeTimeout.Milliseconds()).Text()
	switch {
	case err == redis.Nil:
		l.announced = false
		return errHashGone
	case err != nil:
		return err
	case res != strconv.FormatUint(l.epoch, 10):
		// Someone else announced under this name since our announce.
		p.event(Event{Kind: NameClash, Err: errNameClash})
		l.announced = false
		return errNameClash
	}
	return nil
}
