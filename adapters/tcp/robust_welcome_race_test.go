package tcp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// Shutdown while sessions are opening. Every client is answered: a session
// that opened gets its WELCOME and then the shutdown's fatal ERR, never
// the ERR first; one that came too late gets the fatal ERR as its refusal.
// Then the connection closes. Shutdown returns once every session is
// closed, and Serve returns. A hang anywhere ends in the test timeout.
func TestShutdownDuringHandshakes(t *testing.T) {
	// A done context: Shutdown asks every session to close and returns
	// without waiting for them.
	noWait, cancel := context.WithCancel(context.Background())
	cancel()
	for range 150 {
		// The first session to open starts the shutdown from inside
		// Connect, after the broker registered it and before the engine
		// queued its WELCOME: the window in which the shutdown's ERR could
		// overtake the WELCOME (both are queued under one lock, which the
		// race detector checks too).
		var (
			b     atomic.Pointer[broker.Broker]
			once  sync.Once
			begun = make(chan struct{})
		)
		srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{OnEvent: func(e broker.Event) {
			if e.Kind == broker.SessionOpened {
				once.Do(func() {
					b.Load().Shutdown(noWait)
					close(begun)
				})
			}
		}}})
		b.Store(srv.B)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := helloThroughShutdown(srv.Addr); err != nil {
					t.Error(err)
				}
			})
		}
		<-begun
		if err := srv.B.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		wg.Wait()
		srv.Stop() // returns once the adapters' Serve calls have returned
	}
}

// helloThroughShutdown sends a HELLO to the broker at addr and reads until
// the broker closes the connection. It returns an error unless what came
// was a WELCOME and a fatal shutdown ERR, or that ERR alone.
func helloThroughShutdown(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(wire.AppendHello(nil, &wire.Hello{Version: wire.Version})); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	shutdownErr := fmt.Sprintf("%v fatal %v", wire.TypeErr, wire.CodeShutdown)
	r := wire.NewReader(c, wire.DefaultMaxFrame)
	var (
		f   wire.Frame
		got []string
	)
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("after %q: %w", got, err)
		}
		d := f.Type.String()
		if f.Type == wire.TypeErr {
			d = fmt.Sprintf("%v fatal %v", f.Type, f.Code)
			if !f.Flags.Has(wire.FlagFatal) {
				d = fmt.Sprintf("%v %v", f.Type, f.Code)
			}
		}
		got = append(got, d)
	}
	opened := []string{wire.TypeWelcome.String(), shutdownErr}
	refused := []string{shutdownErr}
	if !slices.Equal(got, opened) && !slices.Equal(got, refused) {
		return fmt.Errorf("got %q before the close, want %q or %q", got, opened, refused)
	}
	return nil
}
