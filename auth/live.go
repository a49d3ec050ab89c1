package auth

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/msgtrans/msgtrans/broker"
)

// Live is the authorizer in force, replaced whole by a reload. It is what
// the broker is given as its Authenticator. Sessions' permissions follow
// the authorizer in force: a session that logged in just before a reload
// is checked against the new rules like every other.
type Live struct {
	mu  sync.Mutex // serializes Swap
	cur atomic.Pointer[Authorizer]
}

// NewLive puts a in force. a must not be used on its own afterwards.
func NewLive(a *Authorizer) *Live {
	l := &Live{}
	a.live = l
	l.cur.Store(a)
	return l
}

// Current returns the authorizer in force.
func (l *Live) Current() *Authorizer { return l.cur.Load() }

// Swap puts a in force for new logins and for the checks of every session.
// Then call broker.Broker.Reauthorize(l.Reauthorize), so that subscriptions
// the new rules refuse are revoked and sessions no longer authorized close.
func (l *Live) Swap(a *Authorizer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a.live = l
	if old := l.cur.Swap(a); old != nil && old != a {
		old.retire()
	}
}

// Authenticate implements broker.Authenticator with the authorizer in force.
func (l *Live) Authenticate(info broker.SessionInfo, c broker.Credentials) (broker.Principal, error) {
	return l.cur.Load().Authenticate(info, c)
}

// Reauthorize is for broker.Broker.Reauthorize after a Swap: it keeps a
// session's principal (whose permissions already follow the authorizer in
// force) or says why the session may no longer stay.
func (l *Live) Reauthorize(_ broker.SessionInfo, old broker.Principal) (broker.Principal, error) {
	sp, ok := old.Permissions.(*sessionPerms)
	if !ok || sp.live != l {
		return broker.Principal{}, fmt.Errorf("%w: %w: the session was not opened by this authorizer", broker.ErrAuth, ErrRevoked)
	}
	if err := l.cur.Load().check(sp.id); err != nil {
		return broker.Principal{}, err
	}
	return old, nil
}
