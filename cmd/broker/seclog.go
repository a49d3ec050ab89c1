package main

import (
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/auth"
	"github.com/msgtrans/msgtrans/broker"
)

// secLog logs failed logins and permission refusals a few at a time: a
// client that fails thousands of times a second must not fill the disk.
// Every one is counted in the broker's stats (AuthFailures,
// PermissionDenials) whether it is logged or not.
type secLog struct {
	logins, denials zerolog.Logger
}

// secLogBurst lines per secLogPeriod, for each of the two kinds.
const (
	secLogBurst  = 10
	secLogPeriod = 10 * time.Second
)

func newSecLog(log zerolog.Logger) *secLog {
	sampled := func() zerolog.Logger {
		return log.Sample(&zerolog.BurstSampler{Burst: secLogBurst, Period: secLogPeriod})
	}
	return &secLog{logins: sampled(), denials: sampled()}
}

func (l *secLog) event(e broker.Event) {
	si := e.Session
	switch e.Kind {
	case broker.AuthFailed:
		l.logins.Warn().Str("protocol", si.Protocol).Str("remote", si.RemoteAddr).Str("user", si.User).
			AnErr("reason", e.Reason).Bool("throttled", errors.Is(e.Reason, auth.ErrThrottled)).
			Msg("login failed (logged at most 10 times per 10s; all are counted)")
	case broker.PermissionDenied:
		l.denials.Warn().Uint64("session", si.ID).Str("protocol", si.Protocol).Str("remote", si.RemoteAddr).
			Str("user", si.User).AnErr("reason", e.Reason).
			Msg("permission denied (once per session and topic, at most 10 times per 10s; all are counted)")
	}
}
