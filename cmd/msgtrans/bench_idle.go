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

	"github.com/msgtrans/msgtrans/sdk"
)

// idleDialers bounds how many connections are being opened at once.
const idleDialers = 32

// idle opens --conns connections, holds them, and reports what each costs
// in memory: the broker's RSS if --broker-pid is given, this process's RSS
// and Go heap always.
func (o *benchOptions) idle(ctx context.Context, e *env, cf *connFlags) (*benchResult, error) {
	st := &idleStats{Conns: o.conns, HoldS: o.hold.Seconds(), BrokerPID: o.brokerPID}
	res := &benchResult{Scenario: o.scenario, Transport: transportOf(cf.server), Server: cf.server, Idle: st}

	var brokerBefore uint64
	if o.brokerPID > 0 {
		var err error
		if brokerBefore, err = readRSS(strconv.Itoa(o.brokerPID)); err != nil {
			return nil, fmt.Errorf("--broker-pid: %w", err)
		}
	}
	heapBefore := heapInUse()
	selfBefore, err := readRSS("self")
	if err != nil {
		return nil, err
	}

	open := make([]*sdk.Conn, o.conns)
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
				nc, err := cf.connect(fmt.Sprintf("msgtrans-bench-idle-%d", i+1), sdk.MaxReconnects(0))
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = fmt.Errorf("connection %d: %w", i+1, err)
					}
					errMu.Unlock()
					return
				}
				open[i] = nc
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, errInterrupted
	}
	if first != nil {
		return nil, fmt.Errorf("opened %d of %d connections: %w", opened.Load(), o.conns, first)
	}
	res.Server = open[0].ConnectedURL()
	select {
	case <-time.After(o.hold):
	case <-ctx.Done():
		return nil, errInterrupted
	}
	stopProgress()

	if o.brokerPID > 0 {
		after, err := readRSS(strconv.Itoa(o.brokerPID))
		if err != nil {
			return nil, fmt.Errorf("--broker-pid: %w", err)
		}
		st.BrokerRSSBefore, st.BrokerRSSAfter = brokerBefore, after
		st.BrokerPerConn = perConn(brokerBefore, after, o.conns)
	}
	selfAfter, err := readRSS("self")
	if err != nil {
		return nil, err
	}
	st.ClientRSSPerConn = perConn(selfBefore, selfAfter, o.conns)
	st.ClientHeapPerConn = perConn(heapBefore, heapInUse(), o.conns)
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
