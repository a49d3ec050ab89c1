package sdk_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/sdk"
)

// Acknowledgement callbacks do not run on the connection's reader: one
// that waits does not stop messages from arriving, and one may publish and
// Close the connection.
func TestAckCallbacksDoNotHoldUpTheReader(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c := connect(t, srv.URL)
	got := make(chan *sdk.Msg, 1)
	if _, err := c.Subscribe("reader.free", func(m *sdk.Msg) { got <- m }); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	callbackDone := make(chan error, 1)
	err := c.PublishAckAsync(&sdk.Msg{Topic: "first", Data: []byte("x")}, func(error) {
		<-release // a callback that waits
		if err := c.Publish("after", []byte("y")); err != nil {
			callbackDone <- err
			return
		}
		callbackDone <- c.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	flush(t, c) // while the callback waits
	if err := c.Publish("reader.free", []byte("z")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(wait):
		t.Fatal("a waiting acknowledgement callback stopped delivery")
	}
	close(release)
	select {
	case err := <-callbackDone:
		if err != nil {
			t.Fatalf("callback: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Close from an acknowledgement callback did not return")
	}
	if !c.IsClosed() {
		t.Fatal("Close from the callback did not close the connection")
	}
}

// PublishAck works from an acknowledgement callback and from a handler:
// its own answer does not queue behind the callback that waits for it.
func TestPublishAckFromCallbacks(t *testing.T) {
	srv := startRefusing(t)
	res := make(chan error, 2)
	publishAck := func(c *sdk.Conn, topic string) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		res <- c.PublishAck(ctx, &sdk.Msg{Topic: topic, Data: []byte("y")})
	}
	var c *sdk.Conn
	var once atomic.Bool
	c = connect(t, srv.URL, sdk.ErrorHandler(func(*sdk.Conn, *sdk.Subscription, error) {
		if !once.Swap(true) {
			publishAck(c, "from.handler")
		}
	}))
	err := c.PublishAckAsync(&sdk.Msg{Topic: "a", Data: []byte("x")}, func(error) {
		publishAck(c, "from.callback")
	})
	if err != nil {
		t.Fatal(err)
	}
	publishRefused(c) // the broker refuses it: an ERR for the ErrorHandler
	for range 2 {
		select {
		case err := <-res:
			if err != nil {
				t.Fatalf("PublishAck from a callback or handler: %v", err)
			}
		case <-time.After(2 * wait):
			t.Fatal("PublishAck from a callback or handler hung")
		}
	}
}

// A PublishAck does not wait for an unrelated callback that is running.
func TestPublishAckDoesNotWaitForOtherCallbacks(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c := connect(t, srv.URL)
	release := make(chan struct{})
	defer close(release)
	running := make(chan struct{})
	c.PublishAckAsync(&sdk.Msg{Topic: "slow"}, func(error) {
		close(running)
		<-release
	})
	<-running
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.PublishAck(ctx, &sdk.Msg{Topic: "quick"}); err != nil {
		t.Fatalf("PublishAck behind a running callback: %v", err)
	}
}

// Drain returns after the acknowledgement callbacks of what it flushed
// have run.
func TestDrainRunsAckCallbacks(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	for round := range 5 {
		c := connect(t, srv.URL)
		var n atomic.Int64
		const N = 2000
		for range N {
			if err := c.PublishAckAsync(&sdk.Msg{Topic: "d"}, func(error) { n.Add(1) }); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
		err := c.Drain(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Load(); got != N {
			t.Fatalf("round %d: Drain returned with %d of %d ack callbacks run", round, got, N)
		}
	}
}

// FlushAsync's callback runs after the ErrorHandler has seen every refusal
// the broker sent before its answer, so a publisher can count its refused
// plain publishes exactly; a callback still waiting at Close gets ErrClosed.
func TestFlushAsyncFollowsEarlierRefusals(t *testing.T) {
	srv := startRefusing(t)
	var refused atomic.Int32
	c := connect(t, srv.URL, sdk.ErrorHandler(func(_ *sdk.Conn, s *sdk.Subscription, err error) {
		if s == nil && isRetainedLimit(err) {
			refused.Add(1)
		}
	}))
	const bad = 50
	for i := range 2 * bad {
		publish := func() error { return c.Publish("fine", nil) }
		if i%2 == 0 {
			publish = func() error { return publishRefused(c) } // refused by the broker, not by the SDK
		}
		if err := publish(); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(chan int32, 1)
	if err := c.FlushAsync(func(err error) {
		if err != nil {
			t.Errorf("FlushAsync: %v", err)
		}
		seen <- refused.Load()
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-seen:
		if n != bad {
			t.Fatalf("refusals reported before the flush callback: %d of %d", n, bad)
		}
	case <-time.After(wait):
		t.Fatal("no FlushAsync callback")
	}

	// Stop the broker so no PONG comes; Close answers the waiting callback.
	srv.Stop()
	closed := make(chan error, 1)
	if err := c.FlushAsync(func(err error) { closed <- err }); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case err := <-closed:
		if !errors.Is(err, sdk.ErrClosed) && !errors.Is(err, sdk.ErrConnectionLost) {
			t.Fatalf("pending FlushAsync at Close: %v", err)
		}
	default:
		t.Fatal("Close returned before the pending FlushAsync callback ran")
	}
	if err := c.FlushAsync(func(error) {}); !errors.Is(err, sdk.ErrClosed) {
		t.Fatalf("FlushAsync after Close: %v", err)
	}
}

// Waiters failed together (by a lost connection, then Close) get their
// callbacks in the order they were made, flushes and acknowledgements
// mixed, as they would have had their answers.
func TestFailedCallbacksKeepTheirOrder(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	var disconnected atomic.Int32
	c := connect(t, srv.URL, sdk.ReconnectWait(time.Hour),
		sdk.DisconnectHandler(func(*sdk.Conn, error) { disconnected.Add(1) }))
	srv.Stop()
	waitFor(t, func() bool { return disconnected.Load() == 1 })
	var mu sync.Mutex
	var order []string
	note := func(s string) func(error) {
		return func(error) {
			mu.Lock()
			order = append(order, s)
			mu.Unlock()
		}
	}
	steps := []func() error{
		func() error { return c.FlushAsync(note("flush 1")) },
		func() error { return c.PublishAckAsync(&sdk.Msg{Topic: "a"}, note("ack 2")) },
		func() error { return c.PublishAckAsync(&sdk.Msg{Topic: "a"}, note("ack 3")) },
		func() error { return c.FlushAsync(note("flush 4")) },
		func() error { return c.PublishAckAsync(&sdk.Msg{Topic: "a"}, note("ack 5")) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if want := "flush 1,ack 2,ack 3,flush 4,ack 5"; strings.Join(order, ",") != want {
		t.Fatalf("callbacks ran in the order %q, want %s", order, want)
	}
}
