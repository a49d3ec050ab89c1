package broker_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
)

// Over the memory budget new sessions are refused with a reason that says
// so; once under it again they are let in. An adapter's memory source
// (here a stand-in for a pool of read buffers) counts like pending output.
func TestMemoryBudgetRefusesNewSessions(t *testing.T) {
	b := newBroker(t, broker.Options{MaxMemory: 1 << 20})
	var lent atomic.Int64
	b.AddMemorySource(lent.Load)
	newClient(t, b, "before")
	lent.Store(2 << 20)
	if got := b.MemoryUsed(); got != 2<<20 {
		t.Fatalf("MemoryUsed %d, want the source's %d", got, 2<<20)
	}
	_, err := brokertest.NewClient(b, "over", false)
	if !errors.Is(err, broker.ErrMaxConnections) || !strings.Contains(err.Error(), "memory budget") {
		t.Fatalf("Connect over the budget: %v", err)
	}
	lent.Store(0)
	c, err := brokertest.NewClient(b, "under", false)
	if err != nil {
		t.Fatalf("Connect under the budget again: %v", err)
	}
	c.Close()
}
