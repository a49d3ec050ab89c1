package sdk_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/sdk"
)

// PublishAck works from an acknowledgement callback and from a handler:
// its own answer does not queue behind the callback that waits for it.
func TestPublishAckFromCallbacks(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	res := make(chan error, 2)
	var c *sdk.Conn
	var once atomic.Bool
	c, err := sdk.Connect(srv.URL, sdk.ErrorHandler(func(*sdk.Conn, *sdk.Subscription, error) {
		if once.Swap(true) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res <- c.PublishAck(ctx, &sdk.Msg{Topic: "from.handler", Data: []byte("y")})
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.PublishAckAsync(&sdk.Msg{Topic: "a", Data: []byte("x")}, func(error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res <- c.PublishAck(ctx, &sdk.Msg{Topic: "from.callback", Data: []byte("y")})
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Publish("a..b", nil) // the broker refuses it: an ERR for the ErrorHandler
	for range 2 {
		select {
		case err := <-res:
			if err != nil {
				t.Fatalf("PublishAck from a callback or handler: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("PublishAck from a callback or handler hung")
		}
	}
}

// A PublishAck does not wait for an unrelated callback that is running.
func TestPublishAckDoesNotWaitForOtherCallbacks(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c, err := sdk.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	release := make(chan struct{})
	defer close(release)
	running := make(chan struct{})
	c.PublishAckAsync(&sdk.Msg{Topic: "slow"}, func(error) {
		close(running)
		<-release
	})
	<-running
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
		c, err := sdk.Connect(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		var n atomic.Int64
		const N = 2000
		for range N {
			if err := c.PublishAckAsync(&sdk.Msg{Topic: "d"}, func(error) { n.Add(1) }); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.Drain(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Load(); got != N {
			t.Fatalf("round %d: Drain returned with %d of %d ack callbacks run", round, got, N)
		}
	}
}
