package main

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

type scenario struct {
	name        string
	unit        string
	lowerBetter bool
	run         func(system) (float64, error)
}

func scenarios(msgs, reqs int, payload []byte) []scenario {
	return []scenario{
		{"publish only", "msgs/s", false, func(s system) (float64, error) { return publishOnly(s, msgs, payload) }},
		{"1 -> 1", "msgs/s received", false, func(s system) (float64, error) { return fanout(s, 1, msgs, payload) }},
		{"1 -> 4 fan-out", "msgs/s received, all subscribers", false, func(s system) (float64, error) { return fanout(s, 4, msgs/2, payload) }},
		{"request-reply p50", "µs", true, func(s system) (float64, error) { return requestReply(s, reqs, payload, 50) }},
		{"request-reply p99", "µs", true, func(s system) (float64, error) { return requestReply(s, reqs, payload, 99) }},
	}
}

func publishOnly(s system, n int, payload []byte) (float64, error) {
	c, err := s.dial()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	for range n {
		if err := c.Publish("bench.pub", payload); err != nil {
			return 0, err
		}
	}
	if err := c.Flush(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// fanout publishes n messages to subs subscribers and reports the rate of
// deliveries, from the first publish to the last message received.
func fanout(s system, subs, n int, payload []byte) (float64, error) {
	var got atomic.Int64
	done := make(chan struct{})
	want := int64(subs * n)
	for range subs {
		c, err := s.dial()
		if err != nil {
			return 0, err
		}
		defer c.Close()
		if err := c.Subscribe("bench.fan", func([]byte) {
			if got.Add(1) == want {
				close(done)
			}
		}); err != nil {
			return 0, err
		}
		if err := c.Flush(); err != nil {
			return 0, err
		}
	}
	pub, err := s.dial()
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	start := time.Now()
	for range n {
		if err := pub.Publish("bench.fan", payload); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("received %d of %d", got.Load(), want)
	}
	return float64(want) / time.Since(start).Seconds(), nil
}

// requestReply makes n sequential requests and returns the given
// percentile of their round trips in microseconds.
func requestReply(s system, n int, payload []byte, pct float64) (float64, error) {
	resp, err := s.dial()
	if err != nil {
		return 0, err
	}
	defer resp.Close()
	if err := resp.Respond("bench.svc"); err != nil {
		return 0, err
	}
	if err := resp.Flush(); err != nil {
		return 0, err
	}
	req, err := s.dial()
	if err != nil {
		return 0, err
	}
	defer req.Close()
	h := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	for i := range n + n/10 {
		t := time.Now()
		if err := req.Request("bench.svc", payload, 5*time.Second); err != nil {
			return 0, err
		}
		if i >= n/10 { // the first tenth warms up
			h.RecordValue(time.Since(t).Microseconds())
		}
	}
	return float64(h.ValueAtQuantile(pct)), nil
}
