package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

// The starvation attacks of issue 14: one client makes the broker do so
// much work per message that everyone else waits.

// sameFilter: one connection subscribes to `>` 65,536 times (one sid
// each) while another publishes, so every publish would fan out 65,536-fold.
func sameFilter(ctx context.Context, e *env) string {
	const subs, rate = 65536, 2000
	rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "fan-out"})
	if err != nil {
		return "subscriber: " + err.Error()
	}
	defer rc.Close()
	go rc.drain()
	var b []byte
	for sid := range subs {
		b = wire.AppendSub(b, uint32(sid+1), ">", "")
	}
	rc.Write(b)
	sent := flood(ctx, e, "fan", rate, 16)
	return fmt.Sprintf("%d x SUB > on one connection: %d refused (codes:%s); %d published, %d delivered to it",
		subs, e.cnt.refused.Load(), e.cnt.codeSummary(), sent, e.cnt.recv.Load()-e.cnt.refused.Load()-e.cnt.fatal.Load())
}

// trieFilter is the i-th of 2^16 filters: 16 tokens, each `a` or `*` by
// the bits of i, then `z`. A topic of 17 `a`-or-other tokens walks every
// one of them and matches none, so no limit on deliveries applies.
func trieFilter(i int) string {
	var b strings.Builder
	for bit := range 16 {
		if i&(1<<bit) != 0 {
			b.WriteString("*.")
		} else {
			b.WriteString("a.")
		}
	}
	b.WriteString("z")
	return b.String()
}

// trieChurn: the worst-case trie above, built by 1,024 connections of 64
// filters each (every topic `a.….a.z` matches all of them, so one session
// may hold no more than limits.max_subscriptions_per_topic of them), a
// wildcard SUB and UNSUB every millisecond from another connection (each
// would clear a match cache invalidated wholesale), and a third publishing
// to 17-token topics that walk the whole trie and match nothing, each
// topic new (`a.….a.yN`), so that the match cache never spares a walk.
func trieChurn(ctx context.Context, e *env) string {
	const filters, perConn, rate = 1 << 16, 64, 5000
	ready := make(chan struct{}, filters/perConn)
	go fleet(ctx, filters/perConn, func(ctx context.Context, c int) {
		rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "trie"})
		if err != nil {
			ready <- struct{}{}
			return
		}
		defer rc.Close()
		var b []byte
		for i := range perConn {
			b = wire.AppendSub(b, uint32(i+1), trieFilter(c*perConn+i), "")
		}
		rc.Write(b)
		ready <- struct{}{}
		rc.waitClosed(ctx)
	})
	for range filters / perConn {
		<-ready
	}
	var b []byte

	churn, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "churn"})
	if err != nil {
		return "churn: " + err.Error()
	}
	defer churn.Close()
	go churn.drain()
	var churns atomic.Int64
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		var b []byte
		for sid := uint32(1); ; sid++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			b = wire.AppendSub(b[:0], sid, "*.a.*.churn.>", "")
			b = wire.AppendUnsub(b, sid, 0)
			if _, err := churn.Write(b); err != nil {
				return
			}
			churns.Add(1)
		}
	}()
	prefix := strings.Repeat("a.", 16) + "y"
	pub, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "walker"})
	if err != nil {
		return "publisher: " + err.Error()
	}
	defer pub.Close()
	go pub.drain()
	start := time.Now()
	next := pace(rate)
	n := 0
	for ; next(ctx); n++ {
		b = wire.AppendPub(b[:0], prefix+strconv.Itoa(n), "", nil, nil, false, 0)
		if _, err := pub.Write(b); err != nil {
			break
		}
	}
	return fmt.Sprintf("%d trie filters on %d connections (%d refused), ~%d SUB/UNSUB pairs, %d publishes to new 17-token topics (%.0f/s of %d/s asked)",
		filters, filters/perConn, e.cnt.refused.Load(), churns.Load(), n, float64(n)/time.Since(start).Seconds(), rate)
}

// retainedReplay: 200,000 retained messages (stored before the pair
// starts), then one client that subscribes to all of them and never
// reads, again on a new connection every second.
func retainedReplay(ctx context.Context, e *env) string {
	fleet(ctx, 1, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "replay"})
			if err != nil {
				sleepCtx(ctx, 200*time.Millisecond)
				continue
			}
			rc.Write(wire.AppendSub(nil, 1, "r.>", ""))
			e.cnt.sent.Add(1)
			sleepCtx(ctx, time.Second)
			rc.Close()
		}
	})
	return fmt.Sprintf("%d retained messages, %d replays asked of subscribers that never read", e.retained, e.cnt.sent.Load())
}

// storeRetained publishes n retained 64-byte messages and waits until the
// broker has them all.
func storeRetained(ctx context.Context, e *env, n int) error {
	c, err := sdk.Connect("tcp://"+e.b.tcp, sdk.Name("retainer"))
	if err != nil {
		return err
	}
	defer c.Close()
	payload := make([]byte, 64)
	for i := range n {
		if err := c.PublishMsg(&sdk.Msg{Topic: "r." + strconv.Itoa(i), Data: payload, Retain: true}); err != nil {
			return err
		}
	}
	if err := c.Flush(ctx); err != nil {
		return err
	}
	e.retained = n
	return nil
}
