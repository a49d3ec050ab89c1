package main

import (
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/auth"
	"github.com/msgtrans/msgtrans/broker"
)

// secLog logs failed logins and permission refusals, rate-limited: a
// client that fails thousands of times a second must not fill the disk.
// Lines that are dropped are counted in the next line that is written
// ("suppressed"); the broker's counters (Stats.AuthFailures,
// PermissionDenials) count every one.
type secLog struct {
	log    zerolog.Logger
	auth   rateLimit
	denied rateLimit
}

func newSecLog(log zerolog.Logger) *secLog {
	return &secLog{log: log, auth: newRateLimit(10, time.Second), denied: newRateLimit(10, time.Second)}
}

func (l *secLog) event(e broker.Event) {
	si := e.Session
	switch e.Kind {
	case broker.AuthFailed:
		if n, ok := l.auth.take(); ok {
			ev := l.log.Warn().Str("protocol", si.Protocol).Str("remote", si.RemoteAddr).Str("user", si.User).
				AnErr("reason", e.Reason).Bool("throttled", errors.Is(e.Reason, auth.ErrThrottled))
			if n > 0 {
				ev = ev.Uint64("suppressed", n)
			}
			ev.Msg("login failed")
		}
	case broker.PermissionDenied:
		if n, ok := l.denied.take(); ok {
			ev := l.log.Warn().Uint64("session", si.ID).Str("protocol", si.Protocol).Str("remote", si.RemoteAddr).
				Str("user", si.User).AnErr("reason", e.Reason)
			if n > 0 {
				ev = ev.Uint64("suppressed", n)
			}
			ev.Msg("permission denied")
		}
	}
}

// rateLimit is a token bucket: burst lines at once, then one per every.
type rateLimit struct {
	mu         sync.Mutex
	burst      float64
	every      time.Duration
	tokens     float64
	last       time.Time
	suppressed uint64
}

func newRateLimit(burst int, every time.Duration) rateLimit {
	return rateLimit{burst: float64(burst), every: every, tokens: float64(burst)}
}

// take reports whether a line may be written now, and how many were
// suppressed since the last one.
func (r *rateLimit) take() (suppressed uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.last.IsZero() {
		r.tokens = min(r.burst, r.tokens+float64(now.Sub(r.last))/float64(r.every))
	}
	r.last = now
	if r.tokens < 1 {
		r.suppressed++
		return 0, false
	}
	r.tokens--
	n := r.suppressed
	r.suppressed = 0
	return n, true
}
