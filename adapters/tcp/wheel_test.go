package tcp_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// Every session is pinged once per ping interval by the engine's wheel,
// however many there are and whether they are parked or busy: over a
// window of several intervals each client counts about one PING per
// interval (never two in one, never a whole interval missed). The busy
// clients publish all along, so their PINGs go through the writer.
func TestPingsOnSchedule(t *testing.T) {
	const n = 60
	const ping = 200 * time.Millisecond
	const window = 10 * ping
	srv := startServer(t, adapters.Options{PingInterval: ping, DeadPeerTimeout: time.Minute})
	type count struct {
		mu    sync.Mutex
		times []time.Time
	}
	counts := make([]*count, n)
	var wg sync.WaitGroup
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	for i := range n {
		c, err := net.Dial("tcp", srv)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		ct := &count{}
		counts[i] = ct
		var wmu sync.Mutex
		write := func(p []byte) {
			wmu.Lock()
			defer wmu.Unlock()
			c.Write(p)
		}
		write(wire.AppendSub(wire.AppendHello(nil, &wire.Hello{Version: wire.Version}), 1, fmt.Sprintf("sched.%d", i), ""))
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := wire.NewReader(c, 0)
			var f wire.Frame
			for r.Next(&f) == nil {
				if f.Type == wire.TypePing {
					ct.mu.Lock()
					ct.times = append(ct.times, time.Now())
					ct.mu.Unlock()
					write(wire.AppendPong(nil))
				}
			}
		}()
		if i%2 == 0 {
			// A busy client: it publishes to itself every 20 ms.
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := wire.AppendPub(nil, fmt.Sprintf("sched.%d", i), "", nil, []byte("x"), false, 0)
				for {
					time.Sleep(20 * time.Millisecond)
					wmu.Lock()
					_, err := c.Write(p)
					wmu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}
	// Past the first PING (between half an interval and an interval after
	// the session opened), then the window.
	time.Sleep(2 * ping)
	from := time.Now()
	time.Sleep(window)
	to := time.Now()
	for i, ct := range counts {
		ct.mu.Lock()
		var in []time.Time
		for _, at := range ct.times {
			if at.After(from) && at.Before(to) {
				in = append(in, at)
			}
		}
		ct.mu.Unlock()
		// One per interval, give or take the window's ends; a loaded
		// machine may delay one, not drop it.
		if got, want := len(in), int(window/ping); got < want-2 || got > want+1 {
			t.Errorf("client %d: %d PINGs in %v, want %d (±1, -2 under load)", i, got, window, want)
		}
	}
}

// startServer runs a broker and one TCP adapter with engine options o, and
// returns its address; it stops when the test ends.
func startServer(t *testing.T, o adapters.Options) string {
	t.Helper()
	b, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := adapters.NewEngine(b, o, "test")
	if err != nil {
		t.Fatal(err)
	}
	a := tcp.New(e, tcp.Options{Addr: "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Serve(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		b.Close()
	})
	return a.Addr().String()
}

// One engine served by two adapters with contexts of their own (as the
// service runs TCP and WebSocket on one engine): the end of one context
// closes that adapter's sessions, parked or busy, and its Serve returns;
// the other adapter's sessions go on. The engine watches each context
// once, not once per session.
func TestShutdownClosesEachContextsSessions(t *testing.T) {
	const ping = 100 * time.Millisecond
	b, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, err := adapters.NewEngine(b, adapters.Options{PingInterval: ping, DeadPeerTimeout: time.Minute}, "test")
	if err != nil {
		t.Fatal(err)
	}
	type served struct {
		addr   string
		cancel context.CancelFunc
		done   chan struct{}
	}
	serve := func() served {
		a := tcp.New(e, tcp.Options{Addr: "127.0.0.1:0"})
		ctx, cancel := context.WithCancel(context.Background())
		if err := a.Listen(ctx); err != nil {
			t.Fatal(err)
		}
		s := served{addr: a.Addr().String(), cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(s.done)
			a.Serve(ctx)
		}()
		t.Cleanup(func() { cancel(); <-s.done })
		return s
	}
	one, two := serve(), serve()
	const n = 10
	var ones, twos []*parkClient
	for i := range n {
		for _, s := range []struct {
			addr string
			to   *[]*parkClient
			name string
		}{{one.addr, &ones, "one"}, {two.addr, &twos, "two"}} {
			pc := dialPark(t, s.addr, true)
			pc.write(wire.AppendPing(wire.AppendSub(nil, 1, fmt.Sprintf("%s.%d", s.name, i), "")))
			pc.expect(t, wire.TypePong)
			*s.to = append(*s.to, pc)
		}
	}
	// Quiet long enough to park (one whole interval without a frame but
	// PONGs), except client 0 of each, which keeps publishing.
	busy := make(chan struct{})
	defer close(busy)
	nobody := wire.AppendPub(nil, "nobody", "", nil, []byte("x"), false, 0)
	for _, pc := range []*parkClient{ones[0], twos[0]} {
		go func() {
			for {
				select {
				case <-busy:
					return
				case <-time.After(10 * time.Millisecond):
					pc.write(nobody) // answered by nothing
				}
			}
		}()
	}
	time.Sleep(4 * ping)

	one.cancel()
	select {
	case <-one.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the first adapter's Serve did not return after its context ended")
	}
	for i, pc := range ones {
		select {
		case err := <-pc.ended:
			if err == nil {
				t.Fatalf("client %d of the stopped adapter: ended without an error", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("client %d of the stopped adapter still connected", i)
		}
	}
	// The other adapter's sessions, parked ones included, still work.
	for i, pc := range twos {
		p := wire.AppendPub(nil, fmt.Sprintf("two.%d", (i+1)%n), "", nil, []byte{byte(i)}, false, 0)
		pc.write(p)
	}
	for i, pc := range twos {
		f := pc.nextFrame(t)
		if f.Type != wire.TypeMsg || len(f.Payload) != 1 || int(f.Payload[0]) != (i+n-1)%n {
			t.Fatalf("client %d of the running adapter got %v %v", i, f.Type, f.Payload)
		}
	}
	if got := b.Stats().Connections; got != n {
		t.Fatalf("%d sessions, want the running adapter's %d", got, n)
	}
	two.cancel()
	<-two.done
	if got := b.Stats().Connections; got != 0 {
		t.Fatalf("%d sessions after both adapters stopped", got)
	}
}

// nextFrame returns the next frame that is not a PING.
func (pc *parkClient) nextFrame(t *testing.T) wire.Frame {
	t.Helper()
	select {
	case f, ok := <-pc.frames:
		if !ok {
			err := <-pc.ended
			pc.ended <- err
			t.Fatalf("connection ended: %v", err)
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10s")
	}
	panic("unreachable")
}
