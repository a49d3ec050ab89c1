package auth

import (
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"sync"
	"testing"
)

// truth is the decision the test stores for a topic.
func truth(topic []byte) bool {
	h := fnv.New32a()
	h.Write(topic)
	return h.Sum32()&1 == 1
}

// A cached decision is always the one stored for that very topic, while
// writers replace slots under concurrent readers: more topics than slots,
// so that slots are overwritten all the time.
func TestDecisionsExactUnderConcurrency(t *testing.T) {
	d := &decisions{seed: maphash.MakeSeed()}
	topics := make([][]byte, 3*decisionSlots)
	for i := range topics {
		topics[i] = fmt.Appendf(nil, "%0*d", 1+i%100, i)
	}
	// Every slot holds some topic's decision before the race starts, so
	// that the readers have hits to check whatever the scheduling.
	for _, tp := range topics {
		d.put(tp, truth(tp), nil)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var hits, wrong int
	for w := range 4 {
		wg.Go(func() {
			for j := range 3 * len(topics) {
				tp := topics[((j+w*1000)*7919)%len(topics)]
				if w%2 == 0 {
					d.put(tp, truth(tp), nil)
					continue
				}
				e := d.get(tp)
				mu.Lock()
				if e != nil {
					hits++
					if e.ok != truth(tp) || e.topic != string(tp) {
						wrong++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wrong > 0 || hits == 0 {
		t.Fatalf("%d hits, %d with another topic's decision", hits, wrong)
	}
}
