package plugins_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/plugins"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// BenchmarkBackends compares the ways a client's messages reach the
// broker, with 16-byte payloads, publish only and 1 -> 1:
//
//   - path=tcp: SDK clients over TCP, the baseline;
//   - path=linked-sdk: SDK connections that a protocol linked into the
//     broker opens with Host.Connect: the in-process backend alone;
//   - path=text-linked, path=text-process: text-protocol clients over TCP
//     to the text protocol, linked into the broker or as a plugin process:
//     a protocol's whole path, its own parsing and socket included.
//
// Publish only ends when the broker has every message (the SDK's Flush,
// the text protocol's PING); 1 -> 1 when the subscriber has every one. A
// publisher stays at most a window ahead of its subscriber in every path,
// so that no subscriber is dropped as a slow consumer.
func BenchmarkBackends(b *testing.B) {
	for _, sc := range []string{"publish", "1to1"} {
		for _, path := range []string{"tcp", "linked-sdk", "text-linked", "text-process"} {
			b.Run("scenario="+sc+"/path="+path, func(b *testing.B) {
				pub, sub := benchClients(b, path, sc == "1to1")
				b.ReportAllocs()
				b.SetBytes(16)
				b.ResetTimer()
				if sub == nil {
					pub.publish(b, b.N, nil)
					pub.flush(b)
				} else {
					sub.want.Store(int64(b.N))
					done := make(chan struct{})
					go func() {
						defer close(done)
						pub.publish(b, b.N, sub.received)
					}()
					sub.wait(b, b.N)
					<-done
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkBackendsRequestReply: one request at a time between two SDK
// connections, over TCP and through the in-process backend; ns/op is the
// round trip. Every message is a write of its own here, unlike the
// batches of the floods above.
func BenchmarkBackendsRequestReply(b *testing.B) {
	for _, path := range []string{"tcp", "linked-sdk"} {
		b.Run("path="+path, func(b *testing.B) {
			conn := benchConns(b, path)
			resp := conn()
			if _, err := resp.Subscribe("bench.svc", func(m *sdk.Msg) { m.Respond(m.Data) }); err != nil {
				b.Fatal(err)
			}
			sdkPublisher{resp}.flush(b)
			req := conn()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := req.Request(ctx, "bench.svc", payload16); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

const benchWindow = 50000

type benchPublisher interface {
	// publish sends n messages, staying at most benchWindow ahead of
	// received, if not nil.
	publish(b *testing.B, n int, received *atomic.Int64)
	// flush returns once the broker has every message.
	flush(b *testing.B)
}

type benchSubscriber struct {
	received *atomic.Int64
	reached  chan struct{} // closed when received reaches want
	want     atomic.Int64
}

func newBenchSubscriber() *benchSubscriber {
	s := &benchSubscriber{received: new(atomic.Int64), reached: make(chan struct{})}
	s.want.Store(-1)
	return s
}

func (s *benchSubscriber) got() {
	if s.received.Add(1) == s.want.Load() {
		close(s.reached)
	}
}

// wait returns when the subscriber has n messages; want is n already.
func (s *benchSubscriber) wait(b *testing.B, n int) {
	select {
	case <-s.reached:
	case <-time.After(2 * time.Minute):
		b.Fatalf("received %d of %d", s.received.Load(), n)
	}
}

// benchConns starts a broker and returns a function opening SDK
// connections to it over path, tcp or linked-sdk; they are closed at the
// end of the benchmark.
func benchConns(b *testing.B, path string) func() *sdk.Conn {
	conn := benchBroker(b, path, adapterstest.Config{Broker: broker.Options{MaxPending: 256 << 20}})
	return func() *sdk.Conn {
		c := conn()
		b.Cleanup(func() { c.Close() })
		return c
	}
}

// benchBroker starts a broker reached by path, tcp or linked-sdk, and
// returns a function opening SDK connections to it.
func benchBroker(b *testing.B, path string, cfg adapterstest.Config) func() *sdk.Conn {
	switch path {
	case "tcp":
		srv := adapterstest.Start(b, cfg)
		return func() *sdk.Conn {
			c, err := sdk.Connect(srv.URL, sdk.SubPendingLimits(1<<24, 1<<30))
			if err != nil {
				b.Fatal(err)
			}
			return c
		}
	case "linked-sdk":
		hosts := make(chan *plugin.Host, 1)
		p := protocolFunc(func(ctx context.Context, h *plugin.Host) error {
			hosts <- h
			h.Ready("serving")
			<-ctx.Done()
			return nil
		})
		startWith(b, linkedBackend(p), cfg, nil, plugins.Options{})
		h := <-hosts
		return func() *sdk.Conn {
			c, err := h.Connect(context.Background(), "bench", sdk.SubPendingLimits(1<<24, 1<<30))
			if err != nil {
				b.Fatal(err)
			}
			return c
		}
	}
	b.Fatalf("no SDK path %q", path)
	return nil
}

// benchClients starts a broker reached by path and returns a publisher
// and, with withSub, a subscriber to its messages.
func benchClients(b *testing.B, path string, withSub bool) (benchPublisher, *benchSubscriber) {
	cfg := adapterstest.Config{Broker: broker.Options{MaxPending: 256 << 20}}
	var sdkConn func() *sdk.Conn
	var textAddr string
	switch path {
	case "tcp", "linked-sdk":
		sdkConn = benchBroker(b, path, cfg)
	case "text-linked", "text-process":
		be := backends()[0]
		if path == "text-linked" {
			be = backends()[1]
		}
		textAddr = startWith(b, be, cfg, nil, plugins.Options{}).pluginAddrTB(b)
	}

	var sub *benchSubscriber
	if withSub {
		sub = newBenchSubscriber()
		if sdkConn != nil {
			c := sdkConn()
			b.Cleanup(func() { c.Close() })
			if _, err := c.Subscribe("bench.x", func(*sdk.Msg) { sub.got() }); err != nil {
				b.Fatal(err)
			}
			sdkPublisher{c}.flush(b)
		} else {
			subscribeText(b, textAddr, sub)
		}
	}
	if sdkConn != nil {
		c := sdkConn()
		b.Cleanup(func() { c.Close() })
		return sdkPublisher{c}, sub
	}
	return dialTextPublisher(b, textAddr), sub
}

type sdkPublisher struct{ c *sdk.Conn }

var payload16 = []byte("0123456789abcdef")

func (p sdkPublisher) publish(b *testing.B, n int, received *atomic.Int64) {
	for i := range n {
		for received != nil && int64(i)-received.Load() > benchWindow {
			time.Sleep(50 * time.Microsecond)
		}
		if err := p.c.Publish("bench.x", payload16); err != nil {
			b.Error(err)
			return
		}
	}
}

func (p sdkPublisher) flush(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.c.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// textPublisher publishes with SEND lines and flushes with PING.
type textPublisher struct {
	c     net.Conn
	w     *bufio.Writer
	pongs chan struct{}
}

func dialTextPublisher(b *testing.B, addr string) *textPublisher {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	p := &textPublisher{c: c, w: bufio.NewWriterSize(c, 64<<10), pongs: make(chan struct{}, 1)}
	go func() {
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if string(l) == "PONG\r\n" {
				p.pongs <- struct{}{}
			} else {
				b.Errorf("publisher got %q", l)
			}
		}
	}()
	return p
}

func (p *textPublisher) publish(b *testing.B, n int, received *atomic.Int64) {
	line := "SEND bench.x " + string(payload16) + "\r\n"
	for i := range n {
		if received != nil && int64(i)-received.Load() > benchWindow {
			p.w.Flush()
			for int64(i)-received.Load() > benchWindow {
				time.Sleep(50 * time.Microsecond)
			}
		}
		p.w.WriteString(line)
	}
	if err := p.w.Flush(); err != nil {
		b.Error(err)
	}
}

func (p *textPublisher) flush(b *testing.B) {
	p.w.WriteString("PING\r\n")
	if err := p.w.Flush(); err != nil {
		b.Fatal(err)
	}
	select {
	case <-p.pongs:
	case <-time.After(2 * time.Minute):
		b.Fatal("no PONG")
	}
}

// subscribeText subscribes a text client to bench.x and counts its MSG
// lines into sub.
func subscribeText(b *testing.B, addr string, sub *benchSubscriber) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	r := bufio.NewReaderSize(c, 64<<10)
	fmt.Fprintf(c, "SUB bench.x\r\n")
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
		b.Fatalf("SUB: %q", l)
	}
	go func() {
		for {
			if _, err := r.ReadSlice('\n'); err != nil {
				return
			}
			sub.got()
		}
	}()
}
