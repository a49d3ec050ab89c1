package tcp_test

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// busyConn is a raw native-protocol client for the benchmarks below.
type busyConn struct {
	c net.Conn
	w *bufio.Writer
	r *wire.Reader
	f wire.Frame
}

func dialBusy(b *testing.B, addr string) *busyConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	bc := &busyConn{c: c, w: bufio.NewWriterSize(c, 64<<10), r: wire.NewReader(c, 0)}
	c.Write(wire.AppendHello(nil, &wire.Hello{Version: wire.Version}))
	must(b, bc.next(wire.TypeWelcome))
	return bc
}

// next reads frames until one of type t (skipping PINGs).
func (bc *busyConn) next(t wire.Type) error {
	bc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if err := bc.r.Next(&bc.f); err != nil {
			return fmt.Errorf("waiting for %v: %w", t, err)
		}
		if bc.f.Type == t {
			return nil
		}
	}
}

// must fails the benchmark (on its own goroutine) on err.
func must(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBusyPubSub is the hot path of a busy connection: one publisher
// streams 16-byte messages through the broker to one subscriber, both over
// loopback TCP; ns/op is per message delivered.
func BenchmarkBusyPubSub(b *testing.B) {
	srv := adapterstest.Start(b, adapterstest.Config{})
	sub := dialBusy(b, srv.Addr)
	sub.c.Write(wire.AppendPing(wire.AppendSub(nil, 1, "busy", "")))
	must(b, sub.next(wire.TypePong))
	pub := dialBusy(b, srv.Addr)
	frame := wire.AppendPub(nil, "busy", "", nil, make([]byte, 16), false, 0)
	b.SetBytes(16)
	b.ResetTimer()
	go func() {
		for range b.N {
			pub.w.Write(frame)
		}
		pub.w.Flush()
	}()
	for range b.N {
		must(b, sub.next(wire.TypeMsg))
	}
}

// BenchmarkBusyRequestReply is one message at a time, there and back: a
// requester publishes, a responder receives and answers, the requester
// receives the answer; ns/op is the round trip, where a cost per wake-up
// of a connection shows.
func BenchmarkBusyRequestReply(b *testing.B) {
	srv := adapterstest.Start(b, adapterstest.Config{})
	resp := dialBusy(b, srv.Addr)
	resp.c.Write(wire.AppendPing(wire.AppendSub(nil, 1, "req", "")))
	must(b, resp.next(wire.TypePong))
	req := dialBusy(b, srv.Addr)
	req.c.Write(wire.AppendPing(wire.AppendSub(nil, 1, "rep", "")))
	must(b, req.next(wire.TypePong))
	ask := wire.AppendPub(nil, "req", "", nil, make([]byte, 16), false, 0)
	answer := wire.AppendPub(nil, "rep", "", nil, make([]byte, 16), false, 0)
	go func() {
		for range b.N {
			if err := resp.next(wire.TypeMsg); err != nil {
				b.Error(err)
				return
			}
			resp.c.Write(answer)
		}
	}()
	b.ResetTimer()
	for range b.N {
		req.c.Write(ask)
		must(b, req.next(wire.TypeMsg))
	}
}
