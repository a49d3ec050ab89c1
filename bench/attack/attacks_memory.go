package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/msgtrans/msgtrans/wire"
)

// The memory amplifiers of issue 14: little traffic from the attacker,
// much memory in the broker, unless it defends itself.

// queueGroupsTopics: many queue-group members on `>` (the broker's
// per-topic limit decides how many it accepts), then publishes to ever
// new topics, each of which the match cache would remember with the
// whole member list.
func queueGroupsTopics(ctx context.Context, e *env) string {
	const members, subsEach, rate = 64, 4096, 5000
	ready := make(chan struct{}, members)
	go fleet(ctx, members, func(ctx context.Context, i int) {
		rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "qmember"})
		if err != nil {
			ready <- struct{}{}
			return
		}
		defer rc.Close()
		var b []byte
		for sid := range subsEach {
			b = wire.AppendSub(b, uint32(sid+1), ">", "g")
		}
		rc.Write(b)
		e.cnt.sent.Add(subsEach)
		ready <- struct{}{}
		rc.waitClosed(ctx)
	})
	for range members {
		<-ready
	}
	rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "topic-sprayer"})
	if err != nil {
		return "publisher: " + err.Error()
	}
	defer rc.Close()
	go rc.drain()
	next := pace(rate)
	payload := make([]byte, 64)
	var b []byte
	n := 0
	for ; next(ctx); n++ {
		b = wire.AppendPub(b[:0], "t."+strconv.Itoa(n), "", nil, payload, false, 0)
		if _, err := rc.Write(b); err != nil {
			break
		}
	}
	return fmt.Sprintf("%d members x %d SUB > (queue g): %d refused, %d members closed by the broker (%d fatal ERRs; codes:%s); %d distinct topics published",
		members, subsEach, e.cnt.refused.Load(), e.cnt.closed.Load(), e.cnt.fatal.Load(), e.cnt.codeSummary(), n)
}

// helloHeaders: connections that send only a HELLO frame header declaring
// a 64 KiB body and then nothing, reconnecting when the broker closes them.
func helloHeaders(ctx context.Context, e *env) string {
	hdr := []byte{0, 1, 0, 0, byte(wire.TypeHello), 0} // 65,536-byte body
	fleet(ctx, e.conns, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, nil)
			if err != nil {
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			rc.Write(hdr)
			rc.waitClosed(ctx)
			rc.Close()
		}
	})
	return fmt.Sprintf("%d at once, %d connections, %d closed by the broker:%s",
		e.conns, e.cnt.conns.Load(), e.cnt.closed.Load(), e.cnt.codeSummary())
}

// pubTrickle: logged-in connections each send a PUB header declaring the
// largest frame the broker accepts, then one byte a second, and reconnect
// every 2 s to start over.
func pubTrickle(ctx context.Context, e *env) string {
	const declared = wire.DefaultMaxFrame // max_payload + 64 KiB, the broker's default max_frame
	n := e.conns / 2
	hdr := binary.BigEndian.AppendUint32(nil, declared)
	hdr = append(hdr, byte(wire.TypePub), 0, 0, 1, 'x') // s16 topic "x"
	fleet(ctx, n, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "trickler"})
			if err != nil {
				sleepCtx(ctx, 200*time.Millisecond)
				continue
			}
			go rc.drain()
			rc.Write(hdr)
			for range 2 {
				if !sleepCtx(ctx, time.Second) {
					break
				}
				if _, err := rc.Write([]byte{0}); err != nil {
					e.cnt.closed.Add(1)
					break
				}
				e.cnt.sent.Add(1)
			}
			rc.Close()
		}
	})
	return fmt.Sprintf("%d at once declaring %d bytes, %d connections, %d trickled bytes",
		n, declared, e.cnt.conns.Load(), e.cnt.sent.Load())
}

// slowSubscribers: subscribers to `>` that never read, under a flood of
// 1 KiB messages. Each sends a PING every 250 ms so that it notices (by a
// failed write) when the broker has cut it, and comes back.
func slowSubscribers(ctx context.Context, e *env) string {
	const subs, rate = 20, 20000
	go fleet(ctx, subs, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "never-reads"})
			if err != nil {
				sleepCtx(ctx, 200*time.Millisecond)
				continue
			}
			rc.Conn.(interface{ SetReadBuffer(int) error }).SetReadBuffer(4096)
			rc.Write(wire.AppendSub(nil, 1, ">", ""))
			for sleepCtx(ctx, 250*time.Millisecond) {
				rc.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := rc.Write(wire.AppendPing(nil)); err != nil {
					e.cnt.closed.Add(1)
					break
				}
			}
			rc.Close()
		}
	})
	sent := flood(ctx, e, "flood", rate, 1024)
	return fmt.Sprintf("%d subscribers to > that never read (%d connections, %d cut); %d x 1 KiB published",
		subs, e.cnt.conns.Load()-1, e.cnt.closed.Load(), sent)
}

// flood publishes size-byte messages to topic.<n mod 100> at rate per
// second from one raw connection until ctx ends; it returns how many it
// wrote.
func flood(ctx context.Context, e *env, topic string, rate, size int) int {
	rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "flooder"})
	if err != nil {
		return 0
	}
	defer rc.Close()
	go rc.drain()
	topics := make([]string, 100)
	for i := range topics {
		topics[i] = topic + "." + strconv.Itoa(i)
	}
	payload := make([]byte, size)
	var b []byte
	next := pace(rate)
	n := 0
	for ; next(ctx); n++ {
		b = wire.AppendPub(b[:0], topics[n%len(topics)], "", nil, payload, false, 0)
		if _, err := rc.Write(b); err != nil {
			break
		}
	}
	return n
}
