package sdk_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/sdk"
)

// Handlers may call Conn methods that wait on the connection (Flush,
// PublishAck, Request): the reader never waits on a handler.
func TestErrorHandlerMayWaitOnConnection(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	var handled, timeouts atomic.Int64
	var c *sdk.Conn
	c = connect(t, srv.URL, sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if c.Flush(ctx) != nil {
			timeouts.Add(1)
		}
		handled.Add(1)
	}))
	for range 100 {
		c.Publish("a..b", nil) // refused by the broker: non-fatal ERR BAD_TOPIC
	}
	time.Sleep(3 * time.Second)
	t.Logf("after 3s: %d error handler calls finished, %d of them had Flush time out", handled.Load(), timeouts.Load())
	if timeouts.Load() > 0 {
		t.Errorf("Flush from the ErrorHandler timed out: the reader was blocked delivering events")
	}
}
