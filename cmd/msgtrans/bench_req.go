package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/msgtrans/msgtrans/sdk"
)

// request runs the request-reply scenario: --clients requesters, each
// sending requests one after the other to --responders echo responders in a
// queue group, recording every round trip in an HDR histogram.
func (o *benchOptions) request(ctx context.Context, e *env, d *benchDialer) (*benchResult, error) {
	var open benchConns
	defer func() { open.closeAll() }()
	res := &benchResult{Scenario: o.scenario, Size: o.size, Publishers: o.clients, Subscribers: o.responders}

	responders := make([]benchClient, o.responders)
	for i := range responders {
		c, err := d.dial(ctx, fmt.Sprintf("msgtrans-bench-responder-%d", i+1))
		if err != nil {
			return nil, err
		}
		open.add(c)
		responders[i] = c
		if err := c.Echo(o.topic, "msgtrans-bench"); err != nil {
			return nil, fmt.Errorf("responder %d: %w", i+1, err)
		}
		if err := o.flush(ctx, c); err != nil {
			return nil, fmt.Errorf("responder %d: %w", i+1, err)
		}
		if err := c.Failure(); err != nil {
			return nil, fmt.Errorf("responder %d: %w", i+1, err)
		}
	}

	payload := benchPayload(o.size)
	clients := make([]benchClient, o.clients)
	for i := range clients {
		c, err := d.dial(ctx, fmt.Sprintf("msgtrans-bench-req-%d", i+1))
		if err != nil {
			return nil, err
		}
		open.add(c)
		clients[i] = c
		// A first request, not measured, sets up the client's inbox and
		// checks that the responders answer.
		if _, err := o.oneRequest(ctx, c, payload); err != nil {
			return nil, fmt.Errorf("requester %d: warm-up request: %w", i+1, err)
		}
	}
	res.Server = open[0].URL()
	res.Transport = transportOf(res.Server)

	var done atomic.Uint64
	stopProgress := progress(e, func() string {
		line := fmt.Sprintf("[req] %s requests", humanRate(float64(done.Load())))
		if o.msgs > 0 {
			line += "/" + humanRate(float64(o.msgs*o.clients))
		}
		return line
	})
	defer stopProgress()

	hists := make([]*hdrhistogram.Histogram, len(clients))
	errs := make([]error, len(clients))
	start := time.Now()
	var deadline time.Time
	if o.duration > 0 {
		deadline = start.Add(o.duration)
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		// Nanoseconds with microsecond resolution, 3 significant digits, up
		// to the request timeout (a slower request fails anyway).
		h := hdrhistogram.New(1000, max(int64(o.timeout), int64(time.Second)), 3)
		hists[i] = h
		wg.Go(func() {
			for n := 0; o.msgs == 0 || n < o.msgs; n++ {
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					return
				}
				d, err := o.oneRequest(ctx, c, payload)
				if err != nil {
					errs[i] = err
					return
				}
				h.RecordValue(min(int64(d), h.HighestTrackableValue()))
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	// Ctrl-C ends the run: the requests answered until then are reported.
	res.Interrupted = ctx.Err() != nil
	fctx := context.WithoutCancel(ctx)
	for i, err := range errs {
		if res.Interrupted && errors.Is(err, context.Canceled) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("requester %d: %w", i+1, err)
		}
	}
	// A responder whose replies were refused or whose connection failed
	// shows here, even if the requests were answered.
	for i, c := range responders {
		err := o.flush(fctx, c)
		if err == nil {
			err = c.Failure()
		}
		if err != nil {
			return nil, fmt.Errorf("responder %d: %w", i+1, err)
		}
	}
	total := hdrhistogram.New(1000, max(int64(o.timeout), int64(time.Second)), 3)
	for _, h := range hists {
		total.Merge(h)
	}
	n := uint64(total.TotalCount())
	res.Pub = &pubStats{newRate(n, n*uint64(o.size), elapsed)}
	us := func(v int64) float64 { return float64(v) / 1e3 }
	res.Latency = &latencyStats{
		Count: total.TotalCount(),
		Min:   us(total.Min()),
		P50:   us(total.ValueAtPercentile(50)),
		P90:   us(total.ValueAtPercentile(90)),
		P99:   us(total.ValueAtPercentile(99)),
		P999:  us(total.ValueAtPercentile(99.9)),
		Max:   us(total.Max()),
		Mean:  total.Mean() / 1e3,
	}
	return res, nil
}

// oneRequest sends one request and returns its round-trip time.
func (o *benchOptions) oneRequest(ctx context.Context, c benchClient, payload []byte) (time.Duration, error) {
	rctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	t0 := time.Now()
	err := c.Request(rctx, o.topic, payload)
	d := time.Since(t0)
	switch {
	case errors.Is(err, sdk.ErrNoResponders):
		return d, fmt.Errorf("no responders on %q", o.topic)
	case errors.Is(err, context.DeadlineExceeded):
		return d, fmt.Errorf("no reply within %v", o.timeout)
	}
	return d, err
}
