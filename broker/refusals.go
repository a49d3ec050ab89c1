package broker

import (
	"fmt"
	"time"
)

// A refused subscription request must cost the broker less than it costs
// the client: the refusal errors are built once per broker (no formatting
// per refusal; the client's ERR frame carries the sid it is about), and a
// session that keeps sending requests the broker refuses is closed.
//
// nats-server answers each subscription over its limit with a fixed
// "maximum subscriptions exceeded" error and keeps the connection; that
// leaves a client free to make the broker read, check and answer refusals
// as fast as it can write them (64 connections x 4,096 refused SUBs held
// everyone else's messages up to 0.6 s here). A client that is refused
// MaxRefusals times within RefusalWindow is not a client that made a
// mistake: it is closed, with a fatal TOO_MANY_SUBS error that says why.

// MaxRefusals is how many refused subscription requests (SUB or UNSUB: a
// duplicate or unknown sid, an invalid filter, a permission or a
// subscription limit) a session may have within RefusalWindow; the next
// one closes it with ErrRefusals. Not a
// configuration key: a well-behaved client gets a handful in its lifetime
// (each one an answer to a bug or a missing permission), and a restored
// set of subscriptions refused at once stays far below it.
const (
	MaxRefusals   = 1024
	RefusalWindow = 10 * time.Second
)

// ErrRefusals is the reason a session is closed for sending more
// subscription requests the broker refuses than MaxRefusals within
// RefusalWindow. It is an ErrTooManySubs, so that protocols report it with
// the code of the limit it keeps hitting.
var ErrRefusals = fmt.Errorf("%w: too many refused subscription requests", ErrTooManySubs)

// refusalErrs are the errors of refused subscription requests, built once.
type refusalErrs struct {
	sidZero, sidInUse, sidUnknown error
	maxSubs, perTopic             error
	closeReason                   error
}

func newRefusalErrs(o *Options) refusalErrs {
	return refusalErrs{
		// ERR uses sid 0 for "no subscription": a subscription 0 could not
		// be told apart from that.
		sidZero:    fmt.Errorf("%w: 0 is reserved", ErrBadSubscription),
		sidInUse:   fmt.Errorf("%w: already in use", ErrBadSubscription),
		sidUnknown: fmt.Errorf("%w: not subscribed", ErrBadSubscription),
		maxSubs:    fmt.Errorf("%w: a session may hold %d", ErrTooManySubs, o.MaxSubscriptions),
		perTopic: fmt.Errorf("%w: the filter overlaps too many of this session's subscriptions; one topic may match at most %d",
			ErrTooManySubs, o.MaxSubscriptionsPerTopic),
		closeReason: fmt.Errorf("%w: more than %d within %s", ErrRefusals, MaxRefusals, RefusalWindow),
	}
}

// refusals is a session's account of its refused subscription requests.
// It is only used by the session's reader (Subscribe and Unsubscribe are
// called from one goroutine), under the session's mu.
type refusals struct {
	// filter is the last filter refused for overlapping too many of the
	// session's subscriptions, remembered until a subscription is removed:
	// the same filter again is refused without counting overlaps.
	filter string
	since  int64 // start of the current window, in Unix nanoseconds
	n      int32 // refusals in it
}

// refusedLocked counts a refused request and returns err, or
// ErrSessionClosed once the session has been refused more than
// MaxRefusals times in the window (it is then being closed). Called with
// s.mu held.
func (s *Session) refusedLocked(err error) error {
	if s.overRefusedLocked() {
		return ErrSessionClosed
	}
	return err
}

// overRefusedLocked counts a refused request and, past the limit, asks the
// adapter to close the session and reports true. Called with s.mu held.
func (s *Session) overRefusedLocked() bool {
	r := &s.refusals
	now := time.Now().UnixNano()
	if now-r.since > int64(RefusalWindow) {
		r.since, r.n = now, 0
	}
	if r.n++; r.n <= MaxRefusals {
		return false
	}
	// requestClose only marks the session and asks its adapter to close
	// it, which never calls back under this lock (as for a slow consumer,
	// detected under it too).
	s.requestClose(s.b.refusalErrs.closeReason)
	return true
}
