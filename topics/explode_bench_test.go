package topics

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// explodeTree is the worst case of issue 14's trie attack: the 2^bits
// filters of bits tokens, each `a` or `*`, then `z`. A topic of bits `a`
// tokens and then anything but `z` walks every one of their paths and
// matches none.
func explodeTree(tb testing.TB, bits int) *Tree[int] {
	tb.Helper()
	tr := NewTree[int](0)
	for i, f := range explodeFilters(bits) {
		if err := tr.Insert(f, "", i); err != nil {
			tb.Fatal(err)
		}
	}
	return tr
}

// BenchmarkMatchExplosion matches topics never seen before (so never
// cached) against the 2^16-path trie: what one such publish costs its
// publisher.
func BenchmarkMatchExplosion(b *testing.B) {
	tr := explodeTree(b, 16)
	prefix := strings.Repeat("a.", 16) + "y"
	var buf []byte
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		buf = strconv.AppendInt(append(buf[:0], prefix...), int64(n), 10)
		if r, _ := tr.MatchBytes(buf); !r.Empty() {
			b.Fatal("matched")
		}
	}
}

// BenchmarkMatchBesideExplosion is what the walks above do to everyone
// else: one goroutine matches never-seen topics against the 2^16-path
// trie without pause, another subscribes and unsubscribes an unrelated
// wildcard filter every 100µs (a writer needs every read lock), and the
// benchmark matches a cached hot topic from another publisher, reporting
// its latency percentiles. A walk that holds its read lock throughout
// makes the writer wait for it, and every reader behind the writer: the
// hot publisher reads shard 0, which a writer holds while it waits for the
// walker's shard 1.
func BenchmarkMatchBesideExplosion(b *testing.B) {
	tr := explodeTree(b, 16)
	if err := tr.Insert("hot.topic", "", -1); err != nil {
		b.Fatal(err)
	}
	hot := []byte("hot.topic")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var walks, changes atomic.Int64
	wg.Go(func() {
		prefix := strings.Repeat("a.", 16) + "y"
		var buf []byte
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			buf = strconv.AppendInt(append(buf[:0], prefix...), int64(n), 10)
			tr.MatchBytesFrom(buf, 1)
			walks.Add(1)
		}
	})
	wg.Go(func() {
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
			tr.Insert("*.a.*.churn.>", "", -2)
			tr.Remove("*.a.*.churn.>", "", -2)
			changes.Add(2)
		}
	})
	lat := make([]time.Duration, 0, 1<<20)
	start := time.Now()
	for b.Loop() {
		t0 := time.Now()
		tr.MatchBytesFrom(hot, 0)
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	el := time.Since(start)
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(walks.Load())/el.Seconds(), "walks/s")
	b.ReportMetric(float64(changes.Load())/el.Seconds(), "changes/s")
}
