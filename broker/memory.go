package broker

import (
	"fmt"
	"slices"
)

// The memory budget (Options.MaxMemory) bounds what the broker holds on
// behalf of clients: bytes waiting to be written to them (each session's
// output, as its adapter reports it) and what adapters hold while reading
// (their memory sources, such as a pool of large read buffers). Past the
// budget, new sessions are refused and the sessions holding the most are
// cut as slow consumers, largest first, until the rest fits; a quarter
// past it, any session that keeps growing beyond 1 MiB (or 1/64 of the
// budget) is cut at once, since the first cuts take a moment to free
// anything. One client, or
// twenty that stop reading, cannot take the machine's memory, and an
// out-of-memory kill never takes everyone.

// memGranule is the step in which a session's held bytes are counted into
// the broker's total: the shared counter changes only when a session's
// output crosses a step, not on every delivery.
const memGranule = 64 << 10

// AddMemorySource counts what fn reports (bytes, at any moment) in the
// memory budget: an adapter's read buffers, say. fn is called from any
// goroutine and must be cheap.
func (b *Broker) AddMemorySource(fn func() int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	srcs := append(slices.Clone(b.memSources.Load().get()), fn)
	b.memSources.Store(&memSources{fns: srcs})
}

type memSources struct{ fns []func() int64 }

func (m *memSources) get() []func() int64 {
	if m == nil {
		return nil
	}
	return m.fns
}

// MemoryUsed returns the bytes counted in the memory budget: sessions'
// pending output (in 64 KiB steps) and the adapters' memory sources.
func (b *Broker) MemoryUsed() int64 {
	n := b.memHeld.Load()
	for _, fn := range b.memSources.Load().get() {
		n += fn()
	}
	return n
}

// overBudget reports whether the memory budget, if any, is used up.
func (b *Broker) overBudget() bool {
	return b.opts.MaxMemory > 0 && b.MemoryUsed() > b.opts.MaxMemory
}

// account records that s's connection holds held bytes now (its output
// queue's footprint) and, if that takes the broker over its budget, starts
// cutting the largest holders. Reports may race (a delivery's and the
// writer's): the last one wins, and the next corrects it.
func (s *Session) account(held int) {
	g := int64(held) &^ (memGranule - 1)
	for {
		old := s.memHeld.Load()
		if g == old || s.released.Load() {
			return
		}
		if s.memHeld.CompareAndSwap(old, g) {
			b := s.b
			b.memHeld.Add(g - old)
			if g <= old || b.opts.MaxMemory <= 0 {
				return
			}
			used := b.MemoryUsed()
			switch {
			case used > b.opts.MaxMemory+b.opts.MaxMemory/4 && g >= max(1<<20, b.opts.MaxMemory/64):
				// Far over, faster than the cuts below take effect: a
				// session that keeps growing while it holds a large share
				// is cut now, on the spot (as a slow consumer is, under
				// s.mu). A reader that is merely behind holds less.
				b.cutForMemory(s, g)
			case used > b.opts.MaxMemory && b.reclaiming.CompareAndSwap(false, true):
				// Not here: this may run under s.mu, and walking the
				// sessions takes the broker's lock, which comes first.
				go b.reclaim()
			}
			return
		}
	}
}

// releaseMemory takes a closed session's bytes out of the total.
func (s *Session) releaseMemory() {
	s.released.Store(true)
	s.b.memHeld.Add(-s.memHeld.Swap(0))
}

// reclaim cuts the sessions that hold the most, largest first, until what
// they hold covers the excess over the budget.
func (b *Broker) reclaim() {
	defer b.reclaiming.Store(false)
	over := b.MemoryUsed() - b.opts.MaxMemory
	if over <= 0 {
		return
	}
	b.mu.Lock()
	holders := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		switch {
		case s.memHeld.Load() == 0:
		case s.closing.Load():
			// Already on its way out (cut before, say): what it holds
			// goes soon, and must not make others pay for it too.
			over -= s.memHeld.Load()
		default:
			holders = append(holders, s)
		}
	}
	b.mu.Unlock()
	slices.SortFunc(holders, func(x, y *Session) int {
		return int(y.memHeld.Load()>>16) - int(x.memHeld.Load()>>16)
	})
	for _, s := range holders {
		if over <= 0 {
			break
		}
		held := s.memHeld.Load()
		over -= held
		b.cutForMemory(s, held)
	}
}

// cutForMemory closes s as a slow consumer for the memory budget.
func (b *Broker) cutForMemory(s *Session, held int64) {
	if s.requestClose(fmt.Errorf("%w: the broker's memory budget (%d bytes) is used up, and this connection holds %d bytes of it, among the most",
		ErrSlowConsumer, b.opts.MaxMemory, held)) {
		b.slow.Add(1)
	}
}
