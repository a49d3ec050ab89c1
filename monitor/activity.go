package monitor

import (
	"context"
	"sync"
	"syscall"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

// keepClosed is how many closed sessions /connz?state=closed remembers.
const keepClosed = 256

// keepRates is how many samples /ratez keeps: five minutes at the default
// period.
const keepRates = 300

// activity samples what the broker does not time itself: when each
// session last moved a message (for idle times; the broker keeps counts,
// not clocks, so that publishing never reads the clock), and the process's
// CPU use. It also remembers the last sessions that closed.
type activity struct {
	b *broker.Broker

	mu       sync.Mutex
	last     map[uint64]seen // by session id
	closedQ  []closedConn    // ring of the last keepClosed, oldest first once full
	closedN  int             // closed sessions recorded since start
	cpu      float64         // percent of one core over the last sample
	cpuAt    time.Time
	cpuTotal time.Duration
	rates    []Rate       // ring of the last keepRates, oldest first once full
	ratesN   int          // rates recorded since start
	prev     broker.Stats // at the last sample
	prevAt   time.Time
}

// Rate is one sample of /ratez: what happened per second since the
// sample before.
type Rate struct {
	Time        time.Time `json:"time"`
	MsgsIn      float64   `json:"in_msgs"`
	MsgsOut     float64   `json:"out_msgs"`
	BytesIn     float64   `json:"in_bytes"`
	BytesOut    float64   `json:"out_bytes"`
	Connections int       `json:"connections"` // open at the sample
}

type seen struct {
	msgs uint64    // messages in plus out when last sampled
	at   time.Time // when they last changed
}

type closedConn struct {
	info   broker.SessionInfo
	stats  broker.SessionStats
	reason error
	at     time.Time
}

func newActivity(b *broker.Broker) *activity {
	return &activity{b: b, last: make(map[uint64]seen)}
}

// run samples every period until ctx ends.
func (a *activity) run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		a.sample(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *activity) sample(now time.Time) {
	sessions := a.b.Sessions()
	counts := make([]uint64, len(sessions))
	for i, s := range sessions {
		st := s.Stats()
		counts[i] = st.MsgsIn + st.MsgsOut
	}
	cpu, cpuErr := cpuTime()
	st := a.b.Stats()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.prevAt.IsZero() && now.After(a.prevAt) {
		dt := now.Sub(a.prevAt).Seconds()
		r := Rate{
			Time:   now.UTC(),
			MsgsIn: float64(st.MsgsIn-a.prev.MsgsIn) / dt, MsgsOut: float64(st.MsgsOut-a.prev.MsgsOut) / dt,
			BytesIn: float64(st.BytesIn-a.prev.BytesIn) / dt, BytesOut: float64(st.BytesOut-a.prev.BytesOut) / dt,
			Connections: st.Connections,
		}
		if len(a.rates) < keepRates {
			a.rates = append(a.rates, r)
		} else {
			a.rates[a.ratesN%keepRates] = r
		}
		a.ratesN++
	}
	a.prev, a.prevAt = st, now
	live := make(map[uint64]seen, len(sessions))
	for i, s := range sessions {
		id := s.ID()
		prev, ok := a.last[id]
		switch {
		case !ok && counts[i] == 0:
			prev = seen{at: s.Info().Opened} // nothing moved since it opened
		case !ok || prev.msgs != counts[i]:
			prev = seen{msgs: counts[i], at: now}
		}
		live[id] = prev
	}
	a.last = live
	if cpuErr == nil {
		if !a.cpuAt.IsZero() && now.After(a.cpuAt) {
			a.cpu = 100 * float64(cpu-a.cpuTotal) / float64(now.Sub(a.cpuAt))
		}
		a.cpuAt, a.cpuTotal = now, cpu
	}
}

// lastActive returns when session s last moved a message, as of the last
// sample; a session opened since then has been idle since it opened.
func (a *activity) lastActive(s *broker.Session) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v, ok := a.last[s.ID()]; ok {
		return v.at
	}
	return s.Info().Opened
}

func (a *activity) cpuPercent() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cpu
}

func (a *activity) closed(e broker.Event) {
	c := closedConn{info: e.Session, stats: e.Stats, reason: e.Reason, at: e.Time}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.closedQ) < keepClosed {
		a.closedQ = append(a.closedQ, c)
	} else {
		a.closedQ[a.closedN%keepClosed] = c
	}
	a.closedN++
	delete(a.last, e.Session.ID)
}

// closedConns returns the remembered closed sessions, oldest first.
func (a *activity) closedConns() []closedConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.closedQ) < keepClosed {
		return append([]closedConn(nil), a.closedQ...)
	}
	i := a.closedN % keepClosed
	return append(append([]closedConn(nil), a.closedQ[i:]...), a.closedQ[:i]...)
}

// recentRates returns the kept samples, oldest first.
func (a *activity) recentRates() []Rate {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.rates) < keepRates {
		return append([]Rate{}, a.rates...)
	}
	i := a.ratesN % keepRates
	return append(append([]Rate{}, a.rates[i:]...), a.rates[:i]...)
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(ru.Utime) + tv(ru.Stime), nil
}
