package sdk

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The queue must find every callback exactly once whatever order the
// broker answers in, and give the rest back oldest first.
func TestAckQueueAnyOrder(t *testing.T) {
	var a ackQueue
	var calls []uint64
	next := uint64(0)
	var inFlight []uint64 // increasing, like the ids
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20000; round++ {
		if len(inFlight) == 0 || rng.IntN(3) > 0 {
			next++
			id := next
			a.push(id, func(error) { calls = append(calls, id) }, false)
			inFlight = append(inFlight, id)
			continue
		}
		i := 0 // mostly the oldest, sometimes any
		if rng.IntN(4) == 0 {
			i = rng.IntN(len(inFlight))
		}
		id := inFlight[i]
		inFlight = slices.Delete(inFlight, i, i+1)
		fn := a.take(id).fn
		if fn == nil {
			t.Fatalf("round %d: no callback for %d", round, id)
		}
		fn(nil)
		if calls[len(calls)-1] != id {
			t.Fatalf("take(%d) returned the callback of %d", id, calls[len(calls)-1])
		}
		if a.take(id).fn != nil {
			t.Fatalf("callback for %d taken twice", id)
		}
		if a.len() != len(inFlight) {
			t.Fatalf("len %d, want %d", a.len(), len(inFlight))
		}
	}
	if a.take(next+1).fn != nil || a.take(0).fn != nil {
		t.Fatal("a callback for an id never pushed")
	}
	calls = nil
	for _, p := range a.takeAll() {
		fn := p.fn
		fn(nil)
	}
	if !slices.Equal(calls, inFlight) {
		t.Fatalf("takeAll called %v, want %v oldest first", calls, inFlight)
	}
	if a.len() != 0 || len(inFlight) > 0 && a.take(inFlight[0]).fn != nil {
		t.Fatal("queue not empty after takeAll")
	}
}

// An acknowledgement that never comes does not make the queue keep every
// later, answered one.
func TestAckQueueStaysSmallBehindAMissingAnswer(t *testing.T) {
	var a ackQueue
	a.push(1, func(error) {}, false) // never answered
	for id := uint64(2); id < 100000; id++ {
		a.push(id, func(error) {}, false)
		if a.take(id).fn == nil {
			t.Fatalf("no callback for %d", id)
		}
	}
	if len(a.q) > 128 {
		t.Fatalf("%d entries kept for 1 waiting", len(a.q))
	}
	if a.len() != 1 || a.take(1).fn == nil {
		t.Fatal("the waiting callback is lost")
	}
}
