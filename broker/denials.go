package broker

import (
	"fmt"
	"sync"
)

// maxDeniedTopics bounds how many refused topics a session remembers for
// reporting. A client that tries more distinct topics than this has each
// further refusal counted and answered, but no longer reported as an event:
// the log must not grow with what a client chooses to send.
const maxDeniedTopics = 256

// denials remembers which operations a session has been refused, so that a
// refusal is reported (Event PermissionDenied) once per session, operation
// and topic, not once per message.
type denials struct {
	mu   sync.Mutex
	seen map[string]struct{}
	full bool // maxDeniedTopics reached; reported once
}

// deny counts a refusal of op on topic (in queue group queue, if any), reports
// it the first time, and returns the error for the client.
func (s *Session) deny(op string, topic []byte, queue string) error {
	err := permissionErr(op, string(topic), queue)
	s.b.denials.Add(1)
	d := &s.denials
	key := op + " " + string(topic) + " " + queue
	d.mu.Lock()
	_, seen := d.seen[key]
	report := !seen && !d.full
	if report {
		if d.seen == nil {
			d.seen = make(map[string]struct{})
		}
		d.seen[key] = struct{}{}
		if len(d.seen) >= maxDeniedTopics {
			d.full = true
			err = fmt.Errorf("%w (further refusals of this session are not reported)", err)
		}
	}
	d.mu.Unlock()
	if report {
		s.b.emit(Event{Kind: PermissionDenied, Session: s.info, Reason: err})
	}
	return err
}

// Reauthorize gives every open session the principal fn returns for it
// (Session.SetPrincipal: subscriptions no longer allowed are revoked), or
// closes the session with fn's error, such as for a user removed from the
// configuration. It returns how many sessions were kept and closed. It is
// how a reload of users and permissions reaches the sessions already open.
func (b *Broker) Reauthorize(fn func(SessionInfo, Principal) (Principal, error)) (kept, closed int) {
	b.mu.Lock()
	sessions := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	b.mu.Unlock()
	for _, s := range sessions {
		p, err := fn(s.info, s.Principal())
		if err != nil {
			s.requestClose(err)
			closed++
			continue
		}
		s.SetPrincipal(p)
		kept++
	}
	return kept, closed
}
