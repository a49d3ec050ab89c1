package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/msgtrans/msgtrans/sdk"
)

// pairTopic is the one topic the well-behaved pair uses. Attackers that
// subscribe to `>` receive it too, as they would in real life.
const pairTopic = "pair.latency"

// pair is the well-behaved publisher and subscriber whose experience is the
// verdict: each on its own connection, the publisher sending a sequence
// number and its send time at a steady rate, the subscriber recording each
// message's latency. Neither reconnects: a connection the broker drops
// shows as a disconnect and as lost messages.
type pair struct {
	pub, sub *sdk.Conn
	rate     int

	mu        sync.Mutex
	hist      *hdrhistogram.Histogram // microseconds
	late      *hdrhistogram.Histogram // the same, for messages sent after settle
	settle    time.Duration
	seen      map[uint64]bool
	sent      atomic.Uint64
	disconnct atomic.Int64
	pubErr    atomic.Value // error
	start     time.Time
	maxAt     time.Duration // when the slowest message was sent, after start
	maxLat    int64
}

type pairResult struct {
	p50, p99, max time.Duration
	maxAt         time.Duration // when the slowest message was sent, after the start
	lateP99       time.Duration // p99 of the messages sent after the settling time
	sent, lost    uint64
	disconnects   int64
	err           error // the publisher's first error, if any
}

func startPair(url string, rate int, settle time.Duration, opts ...sdk.Option) (*pair, error) {
	p := &pair{rate: rate, hist: hdrhistogram.New(1, 60_000_000, 3), late: hdrhistogram.New(1, 60_000_000, 3),
		settle: settle, seen: map[uint64]bool{}}
	opts = append([]sdk.Option{sdk.MaxReconnects(0), sdk.DisconnectHandler(func(*sdk.Conn, error) { p.disconnct.Add(1) })}, opts...)
	var err error
	if p.sub, err = sdk.Connect(url, append(opts, sdk.Name("pair-sub"))...); err != nil {
		return nil, fmt.Errorf("pair subscriber: %w", err)
	}
	if _, err = p.sub.Subscribe(pairTopic, p.receive); err != nil {
		p.sub.Close()
		return nil, err
	}
	if err = p.sub.Flush(context.Background()); err != nil {
		p.sub.Close()
		return nil, err
	}
	if p.pub, err = sdk.Connect(url, append(opts, sdk.Name("pair-pub"))...); err != nil {
		p.sub.Close()
		return nil, fmt.Errorf("pair publisher: %w", err)
	}
	return p, nil
}

func (p *pair) receive(m *sdk.Msg) {
	now := time.Now().UnixNano()
	if len(m.Data) != 16 {
		return
	}
	seq := binary.BigEndian.Uint64(m.Data)
	sentAt := int64(binary.BigEndian.Uint64(m.Data[8:]))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen[seq] {
		return
	}
	p.seen[seq] = true
	lat := max(1, (now-sentAt)/1000)
	p.hist.RecordValue(lat)
	if time.Duration(sentAt-p.start.UnixNano()) >= p.settle {
		p.late.RecordValue(lat)
	}
	if lat > p.maxLat {
		p.maxLat, p.maxAt = lat, time.Duration(sentAt-p.start.UnixNano())
	}
}

// publish sends at the pair's rate until ctx ends.
func (p *pair) publish(ctx context.Context) {
	p.mu.Lock()
	p.start = time.Now()
	p.mu.Unlock()
	next := pace(p.rate)
	buf := make([]byte, 16)
	for seq := uint64(1); next(ctx); seq++ {
		binary.BigEndian.PutUint64(buf, seq)
		binary.BigEndian.PutUint64(buf[8:], uint64(time.Now().UnixNano()))
		if err := p.pub.Publish(pairTopic, buf); err != nil {
			p.pubErr.CompareAndSwap(nil, err)
			return
		}
		p.sent.Store(seq)
	}
}

// finish waits up to grace for messages in flight, closes both connections
// and returns the pair's measurements.
func (p *pair) finish(grace time.Duration) pairResult {
	flushCtx, cancel := context.WithTimeout(context.Background(), grace)
	p.pub.Flush(flushCtx)
	cancel()
	sent := p.sent.Load()
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		n := uint64(len(p.seen))
		p.mu.Unlock()
		if n >= sent {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	disconnects := p.disconnct.Load() // before our own Close counts as one
	p.pub.Close()
	p.sub.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	r := pairResult{
		p50:         time.Duration(p.hist.ValueAtQuantile(50)) * time.Microsecond,
		p99:         time.Duration(p.hist.ValueAtQuantile(99)) * time.Microsecond,
		max:         time.Duration(p.hist.Max()) * time.Microsecond,
		maxAt:       p.maxAt,
		lateP99:     time.Duration(p.late.ValueAtQuantile(99)) * time.Microsecond,
		sent:        sent,
		lost:        sent - uint64(len(p.seen)),
		disconnects: disconnects,
	}
	if err, ok := p.pubErr.Load().(error); ok {
		r.err = err
	}
	return r
}
