package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// flushWindowBytes is how much a publisher sends between two flushes; it
// keeps at most two windows unconfirmed, so a publisher never runs more than
// about twice this ahead of the broker and its memory stays bounded.
const flushWindowBytes = 256 << 10

// benchSub is one subscriber connection and what it received.
type benchSub struct {
	c           benchClient
	i           int // 1-based, for errors
	n, bytes    atomic.Uint64
	first, last atomic.Int64 // nanoseconds since the benchmark's base time; first is 0 until a message arrives
}

// failure is why the subscriber's connection failed, if it did.
func (s *benchSub) failure() error {
	if err := s.c.Failure(); err != nil {
		return fmt.Errorf("subscriber %d: %w", s.i, err)
	}
	return nil
}

// benchPub is one publisher connection and what it sent.
type benchPub struct {
	c   benchClient
	n   atomic.Uint64
	end time.Time // when the broker confirmed the last message
	err error
}

// throughput runs the publish/subscribe scenarios: npub publishers, nsub
// subscribers on one topic (sub-only has no publisher, pub no subscriber).
func (o *benchOptions) throughput(ctx context.Context, e *env, d *benchDialer, npub, nsub int) (*benchResult, error) {
	var open benchConns
	defer func() { open.closeAll() }()
	base := time.Now()
	res := &benchResult{Scenario: o.scenario, Size: o.size, Publishers: npub, Subscribers: nsub}

	subs := make([]*benchSub, nsub)
	for i := range subs {
		s := &benchSub{i: i + 1}
		c, err := d.dial(ctx, fmt.Sprintf("msgtrans-bench-sub-%d", i+1))
		if err != nil {
			return nil, err
		}
		open.add(c)
		s.c = c
		if err := c.Subscribe(o.topic, func(data []byte) {
			t := int64(time.Since(base))
			if s.n.Add(1) == 1 {
				s.first.Store(t)
			}
			s.last.Store(t)
			s.bytes.Add(uint64(len(data)))
		}); err != nil {
			return nil, fmt.Errorf("subscriber %d: %w", i+1, err)
		}
		subs[i] = s
	}
	// Subscriptions must be in place at the broker before anything is sent.
	for i, s := range subs {
		if err := o.flush(ctx, s.c); err != nil {
			return nil, fmt.Errorf("subscriber %d: %w", i+1, err)
		}
		if err := s.failure(); err != nil {
			return nil, err
		}
	}

	pubs := make([]*benchPub, npub)
	for i := range pubs {
		c, err := d.dial(ctx, fmt.Sprintf("msgtrans-bench-pub-%d", i+1))
		if err != nil {
			return nil, err
		}
		open.add(c)
		pubs[i] = &benchPub{c: c}
	}
	if len(open) > 0 {
		res.Server = open[0].URL()
		res.Transport = transportOf(res.Server)
	}

	payload := benchPayload(o.size)
	window := max(1, flushWindowBytes/(o.size+len(o.topic)+16))
	stopProgress := progress(e, func() string {
		return o.progressLine(pubs, subs)
	})
	defer stopProgress()

	// Publish.
	start := time.Now()
	var deadline time.Time
	if o.duration > 0 && npub > 0 {
		deadline = start.Add(o.duration)
	}
	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Go(func() {
			p.err = o.publishLoop(ctx, p, payload, window, deadline)
			p.end = time.Now()
		})
	}
	wg.Wait()
	// Ctrl-C stops publishing like --duration does: what was published is
	// flushed and received, and the partial results are printed.
	res.Interrupted = ctx.Err() != nil && npub > 0
	var published uint64
	var pubEnd time.Time
	for i, p := range pubs {
		err := p.err
		if err == nil {
			err = p.c.Failure() // a refusal reported asynchronously
		}
		if err != nil {
			return nil, fmt.Errorf("publisher %d: %w", i+1, err)
		}
		published += p.n.Load()
		if p.end.After(pubEnd) {
			pubEnd = p.end
		}
	}
	if npub > 0 {
		res.Pub = &pubStats{newRate(published, published*uint64(o.size), pubEnd.Sub(start))}
	}
	if nsub == 0 {
		return res, nil
	}

	// Receive: every subscriber gets every message.
	perSub := published
	if npub == 0 {
		perSub = uint64(o.msgs) // sub-only; 0 with --duration: no count
	}
	actx := ctx
	if res.Interrupted {
		// The interruption ended publishing; what was published is still
		// on its way to the subscribers.
		actx = context.WithoutCancel(ctx)
	}
	waitErr := o.awaitSubs(actx, subs, perSub, npub == 0)
	cutShort := errors.Is(waitErr, errInterrupted)
	if cutShort {
		// Interrupted while receiving: report what arrived so far; what
		// had not is not lost, the run just ended first.
		res.Interrupted, waitErr = true, nil
	}
	stopProgress()
	var got, bytes uint64
	first, last := int64(math.MaxInt64), int64(0)
	for _, s := range subs {
		n := s.n.Load()
		got += n
		bytes += s.bytes.Load()
		if n > 0 {
			first = min(first, s.first.Load())
			last = max(last, s.last.Load())
		}
	}
	var span time.Duration
	if got > 0 {
		span = time.Duration(last - first)
	}
	expected := perSub * uint64(nsub)
	if perSub == 0 { // sub-only for a duration: whatever came
		expected = got
	}
	if npub == 0 && got > 0 {
		res.Size = int(bytes / got) // sub-only: what arrived, not --size
	}
	res.Sub = &subStats{rate: newRate(got, bytes, span), Expected: expected}
	if got < expected && !cutShort {
		res.Sub.Lost = expected - got
	}
	if waitErr != nil {
		return res, waitErr
	}
	for _, s := range subs {
		if err := s.failure(); err != nil {
			return res, err
		}
	}
	if res.Sub.Lost > 0 {
		return res, fmt.Errorf("%d of %d messages lost (none arrived for %v)", res.Sub.Lost, expected, o.timeout)
	}
	return res, nil
}

// publishLoop publishes until --msgs or the deadline, flushing every window
// messages with at most one flush outstanding, then flushes the rest.
func (o *benchOptions) publishLoop(ctx context.Context, p *benchPub, payload []byte, window int, deadline time.Time) error {
	var pending chan error
	wait := func() error {
		if pending == nil {
			return nil
		}
		err := <-pending
		pending = nil
		return err
	}
	defer wait()
	// ctx only stops the loop: the flushes still confirm what was sent.
	fctx := context.WithoutCancel(ctx)
	limit := uint64(o.msgs)
	var n uint64
	for limit == 0 || n < limit {
		if n%1024 == 0 {
			if ctx.Err() != nil {
				break
			}
			if !deadline.IsZero() && !time.Now().Before(deadline) {
				break
			}
			p.n.Store(n)
		}
		if err := p.c.Publish(o.topic, payload); err != nil {
			return err
		}
		n++
		if n%uint64(window) == 0 {
			if err := wait(); err != nil {
				return err
			}
			ch := make(chan error, 1)
			go func() { ch <- o.flush(fctx, p.c) }()
			pending = ch
		}
	}
	p.n.Store(n)
	if err := wait(); err != nil {
		return err
	}
	return o.flush(fctx, p.c)
}

// awaitSubs waits until each subscriber has perSub messages (perSub 0:
// until --duration after the first message), until none arrives for
// --timeout, or until a subscriber fails. sub-only waits for the first
// message without a time limit and treats Ctrl-C as the end of the run.
func (o *benchOptions) awaitSubs(ctx context.Context, subs []*benchSub, perSub uint64, subOnly bool) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var lastSum uint64
	lastProgress := time.Now()
	var firstSeen time.Time
	for {
		var sum uint64
		done := true
		for _, s := range subs {
			n := s.n.Load()
			sum += n
			if perSub == 0 || n < perSub {
				done = false
			}
			if err := s.failure(); err != nil {
				return err
			}
		}
		now := time.Now()
		if sum > 0 && firstSeen.IsZero() {
			firstSeen = now
		}
		if o.duration > 0 && subOnly && !firstSeen.IsZero() && now.Sub(firstSeen) >= o.duration {
			return nil
		}
		if done {
			return nil
		}
		if sum != lastSum {
			lastSum, lastProgress = sum, now
		} else if now.Sub(lastProgress) > o.timeout && !(subOnly && sum == 0) {
			return nil // the caller reports what is missing
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			if subOnly {
				return nil
			}
			return errInterrupted
		}
	}
}

func (o *benchOptions) progressLine(pubs []*benchPub, subs []*benchSub) string {
	var sent, got uint64
	for _, p := range pubs {
		sent += p.n.Load()
	}
	for _, s := range subs {
		got += s.n.Load()
	}
	line := "[" + o.scenario + "]"
	if len(pubs) > 0 {
		line += " published " + humanRate(float64(sent))
		if o.msgs > 0 {
			line += "/" + humanRate(float64(uint64(o.msgs)*uint64(len(pubs))))
		}
	}
	if len(subs) > 0 {
		line += " received " + humanRate(float64(got))
		if o.msgs > 0 {
			per := uint64(o.msgs) * uint64(max(len(pubs), 1)) // sub-only: --msgs per subscriber
			line += "/" + humanRate(float64(per*uint64(len(subs))))
		}
	}
	return line
}
