package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// metric is one row of the table: a scenario's measured quantity.
type metric struct {
	name        string
	unit        string
	lowerBetter bool
	// serverCost: a cost of the server, not a client-side result; no
	// ratio to TCP is shown for it.
	serverCost bool
}

// scenario runs once against a system and returns one value per metric,
// so that request-reply reports p50 and p99 of the same run.
type scenario struct {
	name string
	// key is what --scenarios calls it: publish, 1to1, fanout, reqrep,
	// 16k, 256k or 1m; "large" picks the last three.
	key     string
	metrics []metric
	run     func(system) ([]float64, error)
}

// scenarioKeys are the keys --scenarios accepts, in table order.
var scenarioKeys = []string{"publish", "1to1", "fanout", "reqrep", "large", "16k", "256k", "1m"}

// The table's rows, in order. The first three are the throughput ones that
// issue 6's WebSocket and QUIC targets are about.
var (
	mPublish = metric{name: "publish only", unit: "msgs/s"}
	mOneOne  = metric{name: "1 -> 1", unit: "msgs/s received"}
	mFanout  = metric{name: "1 -> 4 fan-out", unit: "msgs/s received, all subscribers"}
	mReqP50  = metric{name: "request-reply p50", unit: "µs", lowerBetter: true}
	mReqP99  = metric{name: "request-reply p99", unit: "µs", lowerBetter: true}
)

// largeSizes are the payload sizes of the large-message rows (issue 18),
// measured in MB/s received, 1 -> 1.
var largeSizes = []largeSize{{"16 KiB", 16 << 10, "16k"}, {"256 KiB", 256 << 10, "256k"}, {"1 MiB", 1 << 20, "1m"}}

type largeSize struct {
	name string
	size int
	key  string // for --scenarios
}

// scenarios returns the table's scenarios; largeMB > 0 adds a 1 -> 1 row
// per large size, each publishing about largeMB megabytes, with a second
// row for the server's CPU time per megabyte received (for a system whose
// process the driver knows).
func scenarios(msgs, reqs int, payload []byte, largeMB int) []scenario {
	one := func(v float64, err error) ([]float64, error) { return []float64{v}, err }
	scs := []scenario{
		{"publish only", "publish", []metric{mPublish}, func(s system) ([]float64, error) { return one(publishOnly(s, msgs, payload)) }},
		{"1 -> 1", "1to1", []metric{mOneOne}, func(s system) ([]float64, error) { return one(fanout(s, 1, msgs, payload)) }},
		{"1 -> 4 fan-out", "fanout", []metric{mFanout}, func(s system) ([]float64, error) { return one(fanout(s, 4, msgs/2, payload)) }},
		{"request-reply", "reqrep", []metric{mReqP50, mReqP99}, func(s system) ([]float64, error) { return requestReply(s, reqs, payload, 50, 99) }},
	}
	if largeMB <= 0 {
		return scs
	}
	for _, l := range largeSizes {
		m := metric{name: "1 -> 1, " + l.name, unit: "MB/s received"}
		cpu := metric{name: "server CPU, " + l.name, unit: "CPU ms per MB received", lowerBetter: true, serverCost: true}
		writes := metric{name: "server writes, " + l.name, unit: "write calls per MB received", lowerBetter: true, serverCost: true}
		big := make([]byte, l.size)
		n := max(20, largeMB*1000000/l.size)
		scs = append(scs, scenario{m.name, l.key, []metric{m, cpu, writes}, func(s system) ([]float64, error) {
			var before serverUse
			if s.pid > 0 {
				var err error
				if before, err = readServerUse(s.pid); err != nil {
					return nil, err
				}
			}
			rate, err := fanout(s, 1, n, big)
			if err != nil || s.pid <= 0 {
				return []float64{rate * float64(l.size) / 1e6}, err
			}
			after, err := readServerUse(s.pid)
			if err != nil {
				return nil, err
			}
			mb := float64(n) * float64(l.size) / 1e6
			return []float64{rate * float64(l.size) / 1e6,
				float64(after.cpu-before.cpu) / float64(time.Millisecond) / mb,
				float64(after.writes-before.writes) / mb}, nil
		}})
	}
	return scs
}

// pickScenarios keeps the scenarios whose key is in the comma-separated
// list (all of them for an empty list).
func pickScenarios(scs []scenario, list string) ([]scenario, error) {
	if strings.TrimSpace(list) == "" {
		return scs, nil
	}
	want := map[string]bool{}
	for _, k := range strings.Split(list, ",") {
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "" {
			continue
		}
		if !slices.Contains(scenarioKeys, k) {
			return nil, fmt.Errorf("--scenarios: unknown scenario %q (want some of %s)", k, strings.Join(scenarioKeys, ","))
		}
		want[k] = true
	}
	var keep []scenario
	for _, sc := range scs {
		if want[sc.key] || want["large"] && slices.ContainsFunc(largeSizes, func(l largeSize) bool { return l.key == sc.key }) {
			keep = append(keep, sc)
		}
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("--scenarios %q: none of these is measured (large needs --large-mb > 0)", list)
	}
	return keep, nil
}

// allMetrics lists the metrics of scs in table order.
func allMetrics(scs []scenario) []metric {
	var ms []metric
	for _, sc := range scs {
		ms = append(ms, sc.metrics...)
	}
	return ms
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
	var clients []client
	for range subs {
		c, err := s.dial()
		if err != nil {
			return 0, err
		}
		defer c.Close()
		clients = append(clients, c)
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
	time.Sleep(s.settle)
	pub, err := s.dial()
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	clients = append(clients, pub)
	start := time.Now()
	for range n {
		if err := pub.Publish("bench.fan", payload); err != nil {
			return 0, err
		}
	}
	if err := waitAll(done, &got, want, clients); err != nil {
		return 0, err
	}
	return float64(want) / time.Since(start).Seconds(), nil
}

// stallTimeout is how long waitAll waits without a delivery before it
// gives up: lost messages end a run in seconds, not minutes.
const stallTimeout = 10 * time.Second

// waitAll waits until done is closed, failing when got stops growing for
// stallTimeout, naming the clients' asynchronous errors.
func waitAll(done <-chan struct{}, got *atomic.Int64, want int64, clients []client) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last, lastMove := got.Load(), time.Now()
	for {
		select {
		case <-done:
			return nil
		case <-tick.C:
		}
		if n := got.Load(); n != last {
			last, lastMove = n, time.Now()
			continue
		}
		if time.Since(lastMove) < stallTimeout {
			continue
		}
		var errs []error
		for _, c := range clients {
			if err := c.Err(); err != nil {
				errs = append(errs, err)
			}
		}
		return fmt.Errorf("received %d of %d, none in the last %v (client errors: %v)", last, want, stallTimeout, errors.Join(errs...))
	}
}

// requestReply makes n sequential requests and returns the given
// percentiles of their round trips in microseconds.
func requestReply(s system, n int, payload []byte, pcts ...float64) ([]float64, error) {
	resp, err := s.dial()
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	if err := resp.Respond("bench.svc"); err != nil {
		return nil, err
	}
	if err := resp.Flush(); err != nil {
		return nil, err
	}
	time.Sleep(s.settle)
	req, err := s.dial()
	if err != nil {
		return nil, err
	}
	defer req.Close()
	h := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	for i := range n + n/10 {
		t := time.Now()
		if err := req.Request("bench.svc", payload, 5*time.Second); err != nil {
			return nil, err
		}
		if i >= n/10 { // the first tenth warms up
			h.RecordValue(time.Since(t).Microseconds())
		}
	}
	vals := make([]float64, len(pcts))
	for i, p := range pcts {
		vals[i] = float64(h.ValueAtQuantile(p))
	}
	return vals, nil
}
