package sdk_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
)

// BenchmarkPubSubDuringWildcardChurn is 1 -> 1 over TCP while 1,000 other
// connections each subscribe to and unsubscribe from a wildcard filter of
// their own every 20 ms (about 100,000 trie changes a second, like
// requesters' inboxes coming and going). Before the match cache was
// invalidated precisely, every such change emptied it.
func BenchmarkPubSubDuringWildcardChurn(b *testing.B) {
	srv := benchServer(b)
	const churners = 1000
	stop := make(chan struct{})
	var changes atomic.Int64
	var wg sync.WaitGroup
	for i := range churners {
		c := benchConn(b, srv.URL)
		filter := "churn." + strconv.Itoa(i) + ".*"
		wg.Go(func() {
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				s, err := c.Subscribe(filter, func(*sdk.Msg) {})
				if err != nil {
					return
				}
				s.Unsubscribe()
				changes.Add(2)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(100 * time.Millisecond) // let the churn get going
	start := changes.Load()
	benchFanOut(b, srv.URL, nil, "bench.churn", 1, payload16)
	b.ReportMetric(float64(changes.Load()-start)/b.Elapsed().Seconds(), "changes/s")
}
