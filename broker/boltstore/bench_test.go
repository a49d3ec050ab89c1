package boltstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

// BenchmarkSet measures acknowledged Sets: each publisher sends one Set and
// waits for its done before the next, as a publisher asking for a confirmed
// retained publish does. One op is one acknowledged Set.
func BenchmarkSet(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) broker.RetainedStore
	}{
		{"bolt", func(b *testing.B) broker.RetainedStore { return openStore(b, dbPath(b), Options{}) }},
		{"memory", func(*testing.B) broker.RetainedStore { return broker.NewMemoryStore(0, 0) }},
	}
	for _, st := range stores {
		for _, publishers := range []int{1, 64} {
			b.Run(fmt.Sprintf("store=%s/publishers=%d", st.name, publishers), func(b *testing.B) {
				benchSet(b, st.open(b), publishers)
			})
		}
	}
}

func benchSet(b *testing.B, s broker.RetainedStore, publishers int) {
	const topicsEach = 100
	payload := make([]byte, 128)
	names := make([][]string, publishers)
	for p := range names {
		for i := range topicsEach {
			names[p] = append(names[p], fmt.Sprintf("bench.%d.%d", p, i))
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for p := range publishers {
		wg.Go(func() {
			ch := make(chan error, 1)
			done := func(err error) { ch <- err }
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				m := broker.RetainedMessage{Topic: names[p][i%topicsEach], Payload: payload}
				if err := s.Set(m, done); err != nil {
					b.Error(err)
					return
				}
				if err := <-ch; err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sets/s")
}
