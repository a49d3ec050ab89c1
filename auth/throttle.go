package auth

import (
	"sync"
	"sync/atomic"
	"time"
)

// ThrottleOptions tune how repeated login failures from one address are
// slowed down.
type ThrottleOptions struct {
	// Free is how many failures an address may have before its attempts
	// are spaced out. Default 5.
	Free int
	// Delay is the spacing after the first failure past Free; it doubles
	// with each further failure up to MaxDelay. Defaults 100ms and 5s.
	Delay, MaxDelay time.Duration
	// MaxWait is the longest an attempt waits for its turn; an attempt
	// that would wait longer is refused at once without its credentials
	// being checked. Default 2s.
	MaxWait time.Duration
	// Forget drops an address's record this long after its last
	// failure. Default 10 minutes.
	Forget time.Duration
	// MaxAddresses bounds the addresses remembered. Default 65536.
	MaxAddresses int
}

// Throttle slows down login attempts from an address that keeps failing:
// its attempts are serialized with a growing delay, so that guessing
// passwords from one address runs at a few attempts per second at most,
// and an address that would queue too long is refused without a password
// check (bcrypt costs the broker real CPU).
type Throttle struct {
	o        ThrottleOptions
	failures atomic.Uint64
	refused  atomic.Uint64

	mu    sync.Mutex
	addrs map[string]*addrState
}

type addrState struct {
	fails   int
	pending int       // attempts let through whose outcome is not known yet
	last    time.Time // last failure (or the first attempt, for a new record)
	next    time.Time // when the next attempt may run
}

// NewThrottle returns a throttle with o's values, defaults filled in.
func NewThrottle(o ThrottleOptions) *Throttle {
	if o.Free <= 0 {
		o.Free = 5
	}
	if o.Delay <= 0 {
		o.Delay = 100 * time.Millisecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 5 * time.Second
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 2 * time.Second
	}
	if o.Forget <= 0 {
		o.Forget = 10 * time.Minute
	}
	if o.MaxAddresses <= 0 {
		o.MaxAddresses = 1 << 16
	}
	return &Throttle{o: o, addrs: map[string]*addrState{}}
}

// Wait waits for addr's turn to attempt a login. It returns ErrThrottled
// when the turn is too far off; otherwise the caller must call done with
// the attempt's outcome.
func (t *Throttle) Wait(addr string) (done func(ok bool), err error) {
	now := time.Now()
	t.mu.Lock()
	st := t.addrs[addr]
	if st != nil && st.pending == 0 && now.Sub(st.last) > t.o.Forget {
		delete(t.addrs, addr)
		st = nil
	}
	if st == nil {
		if len(t.addrs) >= t.o.MaxAddresses {
			t.evictLocked()
		}
		st = &addrState{last: now}
		t.addrs[addr] = st
	}
	// Attempts still being checked count as failures until they are
	// known: a burst of concurrent guesses must not all get a password
	// check before the first of them is recorded.
	var wait time.Duration
	if n := st.fails + st.pending; n >= t.o.Free {
		slot := st.next
		if slot.Before(now) {
			slot = now
		}
		if wait = slot.Sub(now); wait > t.o.MaxWait {
			t.mu.Unlock()
			t.failures.Add(1)
			t.refused.Add(1)
			return nil, ErrThrottled
		}
		st.next = slot.Add(t.delay(n))
	}
	st.pending++
	t.mu.Unlock()
	if wait > 0 {
		time.Sleep(wait)
	}
	return func(ok bool) { t.record(addr, st, ok) }, nil
}

func (t *Throttle) delay(fails int) time.Duration {
	d := t.o.Delay
	for i := t.o.Free; i < fails && d < t.o.MaxDelay; i++ {
		d *= 2
	}
	return min(d, t.o.MaxDelay)
}

// record ends an attempt Wait let through: a success forgets the
// address, a failure counts against it.
func (t *Throttle) record(addr string, st *addrState, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st.pending--
	if ok {
		if t.addrs[addr] == st {
			delete(t.addrs, addr)
		}
		return
	}
	t.failures.Add(1)
	if t.addrs[addr] != st {
		// Forgotten meanwhile (a success, an eviction): start again.
		if len(t.addrs) >= t.o.MaxAddresses {
			t.evictLocked()
		}
		st = &addrState{}
		t.addrs[addr] = st
	}
	st.fails++
	st.last = time.Now()
}

// evictLocked makes room: records past Forget first, then any one.
func (t *Throttle) evictLocked() {
	now := time.Now()
	for a, st := range t.addrs {
		if st.pending == 0 && now.Sub(st.last) > t.o.Forget {
			delete(t.addrs, a)
		}
	}
	for a := range t.addrs {
		if len(t.addrs) < t.o.MaxAddresses {
			return
		}
		delete(t.addrs, a)
	}
}

// Failures counts failed logins, those refused by the throttle included.
func (t *Throttle) Failures() uint64 { return t.failures.Load() }

// Refused counts logins refused by the throttle without a check.
func (t *Throttle) Refused() uint64 { return t.refused.Load() }
