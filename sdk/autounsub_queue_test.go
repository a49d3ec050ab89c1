package sdk_test

import (
	"sync/atomic"
	"testing"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/sdk"
)

// The broker and the SDK count an auto-unsubscribe limit the same way
// (messages delivered since the SUB), so a queue member that leaves after
// max messages takes exactly max, and the group loses nothing.
func TestAutoUnsubscribeInQueueGroup(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	a := connect(t, srv.URL)
	b := connect(t, srv.URL)
	pub := connect(t, srv.URL)

	var na, nb atomic.Int64
	subA, _ := a.QueueSubscribe("jobs", "w", func(*sdk.Msg) { na.Add(1) })
	b.QueueSubscribe("jobs", "w", func(*sdk.Msg) { nb.Add(1) })
	const max = 21000
	if err := subA.AutoUnsubscribe(max); err != nil {
		t.Fatal(err)
	}
	flush(t, a)
	flush(t, b)

	const total = 100000
	for range total {
		pub.Publish("jobs", []byte("x"))
	}
	flush(t, pub)
	waitFor(t, func() bool { return na.Load()+nb.Load() == total }, "a %d + b %d of %d", na.Load(), nb.Load(), total)
	if na.Load() != max {
		t.Fatalf("member A got %d, want exactly %d", na.Load(), max)
	}
	if subA.IsValid() {
		t.Fatal("member A still subscribed")
	}
	waitFor(t, func() bool { return srv.B.Stats().Subscriptions == 1 })
}
