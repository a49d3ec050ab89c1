package topics

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkMatchDuringChurn matches 64 hot topics while another goroutine
// subscribes and unsubscribes wildcard filters on unrelated topics (request
// inboxes coming and going), about every 20µs. Every such change used to
// clear the whole match cache.
func BenchmarkMatchDuringChurn(b *testing.B) {
	tr := benchTree(b, "wildcard", 10_000, 0)
	hot := make([][]byte, 64)
	for j := range hot {
		hot[j] = []byte(benchTopic(10_000, j))
	}
	stop := make(chan struct{})
	var changes atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			f := "_INBOX." + strconv.Itoa(k%1000) + ".*"
			tr.Insert(f, "", -k)
			tr.Remove(f, "", -k)
			changes.Add(2)
			// Spin rather than sleep: timers cannot pace this finely.
			for t := time.Now(); time.Since(t) < 20*time.Microsecond; {
			}
		}
	})
	b.ReportAllocs()
	start := time.Now()
	j := 0
	for b.Loop() {
		tr.MatchBytes(hot[j%len(hot)])
		j++
	}
	el := time.Since(start)
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(changes.Load())/el.Seconds(), "changes/s")
}

// BenchmarkMatchUniqueTopics matches a topic never seen before on every
// call, from all cores: the replies of request-reply, each on its own
// inbox topic.
func BenchmarkMatchUniqueTopics(b *testing.B) {
	tr := NewTree[int](0)
	for i := range 100 {
		if err := tr.Insert(fmt.Sprintf("_INBOX.%d.*", i), "", i); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 64)
		for pb.Next() {
			n := next.Add(1)
			buf = append(buf[:0], "_INBOX."...)
			buf = strconv.AppendInt(buf, n%100, 10)
			buf = append(buf, '.')
			buf = strconv.AppendInt(buf, n, 10)
			if r, _ := tr.MatchBytes(buf); r.Empty() {
				b.Fatal("no match")
			}
		}
	})
}
