package sdk_test

import (
	"context"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
)

func TestRequestsRecoverAfterInboxRefused(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxSubscriptions: 2}})
	resp := connect(t, srv.URL)
	resp.Subscribe("svc", func(m *sdk.Msg) { m.Respond([]byte("ok")) })
	flush(t, resp)
	c := connect(t, srv.URL)
	s1, _ := c.SubscribeSync("a")
	s2, _ := c.SubscribeSync("b")
	flush(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := c.Request(ctx, "svc", nil)
	cancel()
	t.Logf("request while at the subscription limit: %v", err)
	s1.Unsubscribe()
	s2.Unsubscribe()
	flush(t, c)
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.Request(ctx, "svc", nil)
	t.Logf("request after freeing both subscriptions: %v", err)
	if err != nil {
		t.Errorf("requests stay broken after the inbox SUB was refused once")
	}
}
