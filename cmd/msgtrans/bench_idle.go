package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// idleDialers bounds how many connections are being opened at once.
const idleDialers = 32

// idle opens --conns connections with one subscription each, holds them,
// and reports what each costs in memory: the broker's RSS if --broker-pid
// is given, the text plugin's if --plugin-pid is, this process's RSS and
// Go heap always.
func (o *benchOptions) idle(ctx context.Context, e *env, d *benchDialer) (*benchResult, error) {
	st := &idleStats{Conns: o.conns, HoldS: o.hold.Seconds(), BrokerPID: o.brokerPID, PluginPID: o.pluginPID}
	res := &benchResult{Scenario: o.scenario, Transport: transportOf(d.cf.server), Server: d.cf.server, Idle: st}

	var brokerBefore, pluginBefore uint64
	if o.brokerPID > 0 {
		var err error
		if brokerBefore, err = readRSS(strconv.Itoa(o.brokerPID)); err != nil {
			return nil, fmt.Errorf("--broker-pid: %w", err)
		}
	}
	if o.pluginPID > 0 {
		var err error
		if pluginBefore, err = readRSS(strconv.Itoa(o.pluginPID)); err != nil {
			return nil, fmt.Errorf("--plugin-pid: %w", err)
		}
	}
	heapBefore := heapInUse()
	selfBefore, err := readRSS("self")
	if err != nil {
		return nil, err
	}

	open := make([]benchClient, o.conns)
	defer func() {
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range idleDialers {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(len(open)); i = next.Add(1) - 1 {
					if open[i] != nil {
						open[i].Close()
					}
				}
			})
		}
		wg.Wait()
	}()
	var opened atomic.Int64
	stopProgress := progress(e, func() string {
		return fmt.Sprintf("[idle] %d/%d connections", opened.Load(), o.conns)
	})
	defer stopProgress()
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		errMu sync.Mutex
		first error
	)
	for range min(idleDialers, o.conns) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(o.conns); i = next.Add(1) - 1 {
				if ctx.Err() != nil {
					return
				}
				c, err := d.dial(ctx, fmt.Sprintf("msgtrans-bench-idle-%d", i+1))
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = fmt.Errorf("connection %d: %w", i+1, err)
					}
					errMu.Unlock()
					return
				}
				open[i] = c
				// An idle client as the broker sees it: one subscription,
				// confirmed, and nothing more.
				err = c.Subscribe(fmt.Sprintf("idle.%d", i+1), func([]byte) {})
				if err == nil {
					err = c.Flush(ctx)
				}
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = fmt.Errorf("connection %d: subscribe: %w", i+1, err)
					}
					errMu.Unlock()
					return
				}
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	// Ctrl-C while opening or holding measures the connections open so far
	// (a dial that the interruption cut short is not a failure).
	res.Interrupted = ctx.Err() != nil
	if first != nil && !res.Interrupted {
		return nil, fmt.Errorf("opened %d of %d connections: %w", opened.Load(), o.conns, first)
	}
	n := int(opened.Load())
	if n == 0 {
		return nil, errInterrupted
	}
	for _, c := range open {
		if c != nil {
			res.Server = c.URL()
			break
		}
	}
	if !res.Interrupted {
		select {
		case <-time.After(o.hold):
		case <-ctx.Done():
			res.Interrupted = true
		}
	}
	stopProgress()
	st.Conns = n

	if o.brokerPID > 0 {
		after, err := readRSS(strconv.Itoa(o.brokerPID))
		if err != nil {
			return nil, fmt.Errorf("--broker-pid: %w", err)
		}
		st.BrokerRSSBefore, st.BrokerRSSAfter = brokerBefore, after
		st.BrokerPerConn = perConn(brokerBefore, after, n)
	}
	if o.pluginPID > 0 {
		after, err := readRSS(strconv.Itoa(o.pluginPID))
		if err != nil {
			return nil, fmt.Errorf("--plugin-pid: %w", err)
		}
		st.PluginRSSBefore, st.PluginRSSAfter = pluginBefore, after
		st.PluginPerConn = perConn(pluginBefore, after, n)
	}
	selfAfter, err := readRSS("self")
	if err != nil {
		return nil, err
	}
	st.ClientRSSPerConn = perConn(selfBefore, selfAfter, n)
	st.ClientHeapPerConn = perConn(heapBefore, heapInUse(), n)
	return res, nil
}

// perConn is the growth from before to after, per connection (0 if it
// shrank, as a garbage collection can make it).
func perConn(before, after uint64, n int) float64 {
	if after <= before {
		return 0
	}
	return float64(after-before) / float64(n)
}

// heapInUse is the Go heap in use after a collection, in bytes.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// readRSS reads VmRSS, in bytes, from /proc/<pid>/status (Linux).
func readRSS(pid string) (uint64, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, fmt.Errorf("cannot read the memory of process %s: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			break
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS line in /proc/%s/status", pid)
}
