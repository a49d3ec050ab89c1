package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/wire"
)

// counters are what the attacking clients saw the broker do to them: the
// evidence that an attack did what it claims, and how the broker defended.
type counters struct {
	conns   atomic.Int64 // connections opened
	closed  atomic.Int64 // connections the broker closed
	refused atomic.Int64 // requests answered with a non-fatal ERR (e.g. TOO_MANY_SUBS)
	fatal   atomic.Int64 // fatal ERRs (SLOW_CONSUMER, STALE, HANDSHAKE_TIMEOUT...)
	sent    atomic.Int64 // frames (or attempts) sent
	recv    atomic.Int64 // frames received

	mu    sync.Mutex
	codes map[string]int64 // ERR codes seen, by name
}

func (c *counters) code(code wire.Code) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil {
		c.codes = map[string]int64{}
	}
	c.codes[code.String()]++
}

func (c *counters) codeSummary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := ""
	for _, k := range sortedKeys(c.codes) {
		s += fmt.Sprintf(" %s:%d", k, c.codes[k])
	}
	return s
}

func freeTCPPort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func freeUDPPort() string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// waitTCP dials addr until it accepts, the process exits, or 15 s pass.
func waitTCP(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the broker exited at start")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing accepts connections on %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rawConn is a native-protocol TCP client that misbehaves on purpose: it
// writes whatever frames it is told to, bypassing every check of the SDK.
type rawConn struct {
	net.Conn
	cnt *counters
}

// dialRaw connects to addr and, with hello, sends a HELLO and waits for the
// WELCOME (an ERR instead is returned as an error).
func dialRaw(ctx context.Context, addr string, cnt *counters, hello *wire.Hello) (*rawConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cnt.conns.Add(1)
	rc := &rawConn{Conn: c, cnt: cnt}
	if hello == nil {
		return rc, nil
	}
	if _, err := c.Write(wire.AppendHello(nil, hello)); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := wire.NewReader(c, wire.DefaultMaxFrame)
	var f wire.Frame
	if err := r.Next(&f); err != nil {
		c.Close()
		return nil, fmt.Errorf("waiting for WELCOME: %w", err)
	}
	c.SetReadDeadline(time.Time{})
	if f.Type != wire.TypeWelcome {
		c.Close()
		if f.Type == wire.TypeErr {
			cnt.code(f.Code)
			return nil, fmt.Errorf("refused: %s %s", f.Code, f.Text)
		}
		return nil, fmt.Errorf("got %s instead of WELCOME", f.Type)
	}
	return rc, nil
}

// drain reads and discards frames until the connection ends, answering PING
// and counting ERRs; it returns when the broker (or ctx, via Close) ends
// the connection.
func (rc *rawConn) drain() {
	r := wire.NewReader(rc.Conn, 64<<20)
	var f wire.Frame
	for {
		if err := r.Next(&f); err != nil {
			return
		}
		rc.cnt.recv.Add(1)
		switch f.Type {
		case wire.TypePing:
			rc.Write(wire.AppendPong(nil))
		case wire.TypeErr:
			rc.cnt.code(f.Code)
			if f.Flags.Has(wire.FlagFatal) {
				rc.cnt.fatal.Add(1)
			} else {
				rc.cnt.refused.Add(1)
			}
		}
	}
}

// waitClosed reads until the broker closes the connection or ctx ends,
// discarding what arrives; it reports whether the broker closed it.
func (rc *rawConn) waitClosed(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		rc.drain()
		close(done)
	}()
	select {
	case <-done:
		rc.cnt.closed.Add(1)
		return true
	case <-ctx.Done():
		rc.Close()
		<-done
		return false
	}
}

// sleepCtx sleeps d or until ctx ends, and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// fleet runs n copies of fn until ctx ends and waits for them.
func fleet(ctx context.Context, n int, fn func(ctx context.Context, i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx, i)
		}()
	}
	wg.Wait()
}

// pace returns a function that blocks so that calls happen at rate per
// second on average, in bursts of at most a millisecond's worth.
func pace(rate int) func(ctx context.Context) bool {
	start := time.Now()
	var n int64
	return func(ctx context.Context) bool {
		n++
		due := start.Add(time.Duration(n * int64(time.Second) / int64(rate)))
		if d := time.Until(due); d > time.Millisecond {
			return sleepCtx(ctx, d)
		}
		return ctx.Err() == nil
	}
}
