package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/topics"
)

// Store is a broker.RetainedStore kept in Redis, shared by every node of a
// cluster: a retained message published on one node is what a subscriber
// on any node receives.
//
//	<p>:retained        hash: topic -> record (expiry, header, payload)
//	<p>:retained:bytes  the bytes counted against the limit
//	<p>:retained:exp    sorted set: topic -> expiry (unix ms), for messages with one
//
// Every change is one Lua script, so the limits hold across nodes: the
// count and byte total are checked and changed atomically in Redis. Set
// returns once Redis has applied the change, which is what "in Redis"
// means for an acknowledged retained publish (docs/cluster.md says what
// that survives, with and without AOF).
type Store struct {
	rdb                   *redis.Client
	hash, bytes, exp      string
	maxMessages, maxBytes int
	timeout               time.Duration
	skipped               atomic.Uint64 // replays skipped with Redis unreachable
}

// ErrUnavailable wraps a failure to reach Redis.
var ErrUnavailable = errors.New("cluster: redis unavailable")

// NewStore returns the retained store of the cluster under prefix, holding
// at most maxMessages messages and maxBytes bytes (topic, header and
// payload) in all; zero means no limit. Each Redis call waits at most
// timeout.
func NewStore(rdb *redis.Client, prefix string, maxMessages, maxBytes int, timeout time.Duration) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	k := prefix + ":retained"
	return &Store{rdb: rdb, hash: k, bytes: k + ":bytes", exp: k + ":exp",
		maxMessages: maxMessages, maxBytes: maxBytes, timeout: timeout}
}

// recordHead is the fixed part of a record: expiry (unix ms, 0 never) and
// the header's length; the size a message counts is its topic's length
// plus its record's, less this.
const recordHead = 12

func encodeRecord(m broker.RetainedMessage) []byte {
	b := make([]byte, recordHead, recordHead+len(m.Header)+len(m.Payload))
	if !m.Expires.IsZero() {
		binary.BigEndian.PutUint64(b, uint64(max(m.Expires.UnixMilli(), 1)))
	}
	binary.BigEndian.PutUint32(b[8:], uint32(len(m.Header)))
	return append(append(b, m.Header...), m.Payload...)
}

func decodeRecord(topic, rec string) (broker.RetainedMessage, bool) {
	if len(rec) < recordHead {
		return broker.RetainedMessage{}, false
	}
	exp := binary.BigEndian.Uint64([]byte(rec[:8]))
	hl := binary.BigEndian.Uint32([]byte(rec[8:12]))
	if uint64(hl) > uint64(len(rec)-recordHead) {
		return broker.RetainedMessage{}, false
	}
	m := broker.RetainedMessage{Topic: topic}
	if hl > 0 {
		m.Header = []byte(rec[recordHead : recordHead+hl])
	}
	m.Payload = []byte(rec[recordHead+hl:])
	if exp != 0 {
		m.Expires = time.UnixMilli(int64(exp))
	}
	return m, true
}

// The scripts share these Lua helpers: now in Redis's clock, dropping a
// topic with its accounting, and dropping what has expired.
const luaHelpers = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function drop(topic)
  local old = redis.call('HGET', KEYS[1], topic)
  if old then
    redis.call('HDEL', KEYS[1], topic)
    redis.call('DECRBY', KEYS[2], #topic + #old - 12)
    redis.call('ZREM', KEYS[3], topic)
  end
end
local function dropExpired()
  local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now())
  for _, topic in ipairs(gone) do drop(topic) end
  return #gone
end
`

// setScript: ARGV topic, record (” deletes), expiry ms (0 never),
// maxMessages, maxBytes. Returns 'ok', or 'messages' or 'bytes' for the
// limit that refused it (after expired messages made what room they could).
var setScript = redis.NewScript(luaHelpers + `
local topic, rec = ARGV[1], ARGV[2]
if rec == '' then drop(topic) return 'ok' end
local maxm, maxb = tonumber(ARGV[4]), tonumber(ARGV[5])
local function over()
  local count = redis.call('HLEN', KEYS[1]) + 1
  local bytes = tonumber(redis.call('GET', KEYS[2]) or '0') + #topic + #rec - 12
  local old = redis.call('HGET', KEYS[1], topic)
  if old then count = count - 1 bytes = bytes - (#topic + #old - 12) end
  if maxm > 0 and count > maxm then return 'messages' end
  if maxb > 0 and bytes > maxb then return 'bytes' end
  return nil
end
local why = over()
if why then
  if dropExpired() == 0 then return why end
  why = over()
  if why then return why end
end
drop(topic)
redis.call('HSET', KEYS[1], topic, rec)
redis.call('INCRBY', KEYS[2], #topic + #rec - 12)
if ARGV[3] ~= '0' then redis.call('ZADD', KEYS[3], ARGV[3], topic) end
return 'ok'
`)

// lenScript drops what has expired and returns the count.
var lenScript = redis.NewScript(luaHelpers + `
dropExpired()
return redis.call('HLEN', KEYS[1])
`)

func (s *Store) keys() []string { return []string{s.hash, s.bytes, s.exp} }

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// Set implements broker.RetainedStore. It returns once Redis has the
// change, so done is called before it returns.
func (s *Store) Set(m broker.RetainedMessage, done func(error)) error {
	var rec []byte
	var exp int64
	if len(m.Payload) > 0 {
		rec = encodeRecord(m)
		if !m.Expires.IsZero() {
			exp = max(m.Expires.UnixMilli(), 1)
		}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	res, err := setScript.Run(ctx, s.rdb, s.keys(), m.Topic, rec, exp, s.maxMessages, s.maxBytes).Text()
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w: %w", broker.ErrStore, ErrUnavailable, err)
	case res == "messages":
		return fmt.Errorf("%w: %d messages", broker.ErrRetainedLimit, s.maxMessages)
	case res == "bytes":
		return fmt.Errorf("%w: %d bytes", broker.ErrRetainedLimit, s.maxBytes)
	}
	if done != nil {
		done(nil)
	}
	return nil
}

// Match implements broker.RetainedStore. A filter without wildcards is one
// HGET; one with wildcards scans the hash in Redis with a glob that
// matches a superset of the filter, and checks each topic here.
//
// With Redis unreachable it replays nothing and returns nil, counting the
// skip (ReplaysSkipped): the subscription goes live without the retained
// messages rather than being refused, so that a node cut off from Redis
// still serves its clients.
func (s *Store) Match(filter string, fn func(broker.RetainedMessage) bool) error {
	if err := s.match(filter, fn); err != nil {
		s.skipped.Add(1)
	}
	return nil
}

// ReplaysSkipped counts the subscriptions that got no retained messages
// because Redis could not be reached.
func (s *Store) ReplaysSkipped() uint64 { return s.skipped.Load() }

func (s *Store) match(filter string, fn func(broker.RetainedMessage) bool) error {
	ctx, cancel := s.ctx()
	defer cancel()
	now := time.Now()
	emit := func(topic, rec string) bool {
		m, ok := decodeRecord(topic, rec)
		if !ok || !m.Expires.IsZero() && !now.Before(m.Expires) {
			return true // expired (Set and Len drop it) or not ours
		}
		return fn(m)
	}
	if !strings.ContainsAny(filter, "*>") {
		rec, err := s.rdb.HGet(ctx, s.hash, filter).Result()
		if err == redis.Nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w: %w", broker.ErrStore, ErrUnavailable, err)
		}
		emit(filter, rec)
		return nil
	}
	// The candidates go through a topics.Index, so that the filter means
	// exactly what it means everywhere else ($SYS topics included).
	found := topics.NewIndex[string]()
	glob := filterGlob(filter)
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, s.hash, cursor, glob, 512).Result()
		if err != nil {
			return fmt.Errorf("%w: %w: %w", broker.ErrStore, ErrUnavailable, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			found.Set(kv[i], kv[i+1])
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	found.Match(filter, emit)
	return nil
}

// filterGlob turns a filter into a Redis glob that matches every topic the
// filter matches (and some more, since Redis's * crosses dots).
func filterGlob(filter string) string {
	var b strings.Builder
	for _, c := range filter {
		switch c {
		case '*', '>':
			b.WriteByte('*')
		case '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// Len implements broker.RetainedStore; it is -1 when Redis cannot be
// reached.
func (s *Store) Len() int {
	ctx, cancel := s.ctx()
	defer cancel()
	n, err := lenScript.Run(ctx, s.rdb, s.keys()).Int()
	if err != nil {
		return -1
	}
	return n
}

// Close implements broker.RetainedStore. The Redis client is its owner's
// to close.
func (s *Store) Close() error { return nil }
