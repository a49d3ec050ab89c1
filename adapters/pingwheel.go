package adapters

import (
	"math/rand/v2"
	"sync"
	"time"
)

// pingWheel runs the ping work of all of an engine's sessions (see
// session.ping) from one timer: each session has a slot on a wheel that
// turns once per ping interval, and each tick visits one slot's sessions on
// the timer's goroutine. A timer per session made every session's ping a
// goroutine of its own, and sessions that connected together pinged
// together: a storm of timer callbacks, PING writers and PONG readers every
// interval, whose pages stayed mapped. The wheel costs one timer per engine
// and a slot index per session, and a new session's slot is drawn at random
// from the half of the wheel an interval away, so that a connection storm
// is spread over half an interval.
type pingWheel struct {
	tick  time.Duration // interval / len(slots)
	visit func(ss *session, now time.Time)

	mu    sync.Mutex
	slots [][]*session
	cur   int // the slot the next tick visits
	n     int // sessions on the wheel
	timer *time.Timer
	next  time.Time // when the next tick is due (ticks do not drift)
	// busy holds the sessions a tick is visiting, taken off their slot;
	// remove waits (done) for a session in it, so that once remove
	// returns the wheel never touches the session again.
	busy    []*session
	visited []*session // the previous busy's array, reused
	done    sync.Cond
	turning bool // a turn is under way (a Reset may start another)
}

// wheelSlots bounds the slots of a wheel; minTick the shortest tick (short
// ping intervals, in tests, get fewer slots).
const (
	wheelSlots = 64
	minTick    = 5 * time.Millisecond
)

// notOnWheel is a session's slot while it is on no wheel.
const notOnWheel = -1

func newPingWheel(interval time.Duration, visit func(*session, time.Time)) *pingWheel {
	n := int(min(max(interval/minTick, 1), wheelSlots))
	w := &pingWheel{tick: interval / time.Duration(n), visit: visit, slots: make([][]*session, n)}
	w.done.L = &w.mu
	return w
}

// add puts ss on the wheel: its first visit comes between half an interval
// and an interval from now, then one each interval.
func (w *pingWheel) add(ss *session) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.slots)
	// The slot the wheel reaches last (the one just visited), or up to
	// half a turn before it.
	back := 1 + rand.IntN(max(n/2, 1))
	w.putLocked(ss, ((w.cur-back)%n+n)%n)
	w.n++
	if w.n == 1 {
		w.next = time.Now().Add(w.tick)
		if w.timer == nil {
			w.timer = time.AfterFunc(w.tick, w.turn)
		} else {
			w.timer.Reset(w.tick)
		}
	}
}

func (w *pingWheel) putLocked(ss *session, slot int) {
	ss.wslot, ss.widx = int32(slot), int32(len(w.slots[slot]))
	w.slots[slot] = append(w.slots[slot], ss)
}

// remove takes ss off the wheel, waiting if a tick is visiting it.
func (w *pingWheel) remove(ss *session) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ss.wslot == busySlot {
		w.done.Wait()
	}
	if ss.wslot == notOnWheel {
		return
	}
	s := w.slots[ss.wslot]
	last := len(s) - 1
	s[ss.widx] = s[last]
	s[ss.widx].widx = ss.widx
	s[last] = nil
	w.slots[ss.wslot] = s[:last]
	ss.wslot = notOnWheel
	w.n--
	if w.n == 0 {
		w.timer.Stop() // a tick under way sees n == 0 and stops too
	}
}

// busySlot is the slot of a session that a tick is visiting.
const busySlot = -2

// turn is the timer's callback: it visits the sessions of the slots that
// are due (one, unless the timer came late) and sets the timer for the next.
func (w *pingWheel) turn() {
	w.mu.Lock()
	if w.turning {
		w.mu.Unlock()
		return // the turn under way sets the timer when it is done
	}
	w.turning = true
	for w.n > 0 && !time.Now().Before(w.next) {
		slot := w.cur
		w.cur = (w.cur + 1) % len(w.slots)
		w.next = w.next.Add(w.tick)
		// Take the slot's sessions: the array goes to busy, and the
		// slot starts again from the last visit's array.
		w.busy, w.slots[slot], w.visited = w.slots[slot], w.visited[:0], nil
		for _, ss := range w.busy {
			ss.wslot = busySlot
		}
		w.mu.Unlock()
		now := time.Now()
		for _, ss := range w.busy {
			w.visit(ss, now)
		}
		w.mu.Lock()
		// Back on their slot (remove waited for them), for the next turn.
		for i, ss := range w.busy {
			w.putLocked(ss, slot)
			w.busy[i] = nil
		}
		if cap(w.busy) <= 4*len(w.slots[slot])+64 {
			w.visited = w.busy[:0] // not a storm's array: keep it
		}
		w.busy = nil
		w.done.Broadcast()
	}
	w.turning = false
	if w.n > 0 {
		w.timer.Reset(time.Until(w.next))
	}
	w.mu.Unlock()
}
