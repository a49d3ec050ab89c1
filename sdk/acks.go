package sdk

import "sort"

// ackQueue holds the callbacks of acknowledged publishes in flight, by
// ack id. Ids are handed out in increasing order and the broker mostly
// answers in that order, so a queue with a moving head finds the answer
// first try, where a map with a constantly moving key range spends its
// time probing past deleted slots.
type ackQueue struct {
	q    []pendingAck // ids increasing; answered entries have fn == nil
	head int
	n    int // entries with fn != nil
}

type pendingAck struct {
	id uint64
	fn func(error)
	// direct: called where the answer arrives (PublishAck's non-blocking
	// send), not queued for the handler goroutine behind other callbacks.
	direct bool
}

func (a *ackQueue) push(id uint64, fn func(error), direct bool) {
	switch {
	case a.head > 0 && a.head >= len(a.q)/2:
		// Reuse the front: move the live part down.
		k := copy(a.q, a.q[a.head:])
		clear(a.q[k:])
		a.q = a.q[:k]
		a.head = 0
	case len(a.q) >= 64 && a.n <= len(a.q)/2:
		// Mostly answered entries behind an old unanswered one (a server
		// that never answers it): keep only the waiting ones.
		live := a.q[:0]
		for _, p := range a.q[a.head:] {
			if p.fn != nil {
				live = append(live, p)
			}
		}
		clear(a.q[len(live):])
		a.q = live
		a.head = 0
	}
	a.q = append(a.q, pendingAck{id: id, fn: fn, direct: direct})
	a.n++
}

// take removes and returns the entry for id; its fn is nil if there is
// none.
func (a *ackQueue) take(id uint64) pendingAck {
	live := a.q[a.head:]
	i := 0
	if len(live) == 0 || live[0].id != id {
		i = sort.Search(len(live), func(i int) bool { return live[i].id >= id })
		if i == len(live) || live[i].id != id {
			return pendingAck{}
		}
	}
	p := live[i]
	if p.fn == nil {
		return pendingAck{}
	}
	live[i].fn = nil
	a.n--
	for a.head < len(a.q) && a.q[a.head].fn == nil {
		a.head++
	}
	if a.head == len(a.q) {
		a.q, a.head = a.q[:0], 0
		if cap(a.q) > 1024 {
			a.q = nil // let a burst's queue go
		}
	}
	return p
}

// takeAll removes every entry, oldest first.
func (a *ackQueue) takeAll() []pendingAck {
	if a.n == 0 {
		return nil
	}
	ps := make([]pendingAck, 0, a.n)
	for _, p := range a.q[a.head:] {
		if p.fn != nil {
			ps = append(ps, p)
		}
	}
	*a = ackQueue{}
	return ps
}

// len returns the number of callbacks waiting.
func (a *ackQueue) len() int { return a.n }
