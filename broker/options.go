package broker

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// Default limits, used where an Options field is zero.
const (
	DefaultMaxConnections   = 65536
	DefaultMaxPayload       = 1 << 20
	DefaultMaxSubscriptions = 65536
	DefaultMaxPending       = 64 << 20
	// DefaultMaxSubscriptionsPerTopic bounds how many of one session's
	// subscriptions one message may match: generous for real overlaps
	// ("orders.>", "orders.*.created", a duplicate handler), far from the
	// 65,536-fold fan-out one connection could otherwise ask of every
	// publisher.
	DefaultMaxSubscriptionsPerTopic = 64
)

// Options configures a Broker. The zero value is usable: every limit falls
// back to its default and retained messages are kept in memory.
type Options struct {
	// MaxConnections is the number of sessions open at once, over all protocols.
	MaxConnections int
	// MaxPayload is the largest publish payload in bytes.
	MaxPayload int
	// MaxSubscriptions is the number of subscriptions one session may hold.
	MaxSubscriptions int
	// MaxSubscriptionsPerTopic is how many of one session's subscriptions
	// a single topic may match (duplicates and overlapping wildcards): a
	// subscription that would let some topic match more is refused with
	// ErrTooManySubs. Each message costs its publisher one delivery per
	// matching subscription; this bounds what one session can make it cost.
	MaxSubscriptionsPerTopic int
	// MaxPending is how many bytes of deliveries may wait for one session's
	// connection to write them; beyond it the session is a slow consumer and
	// is closed. A publisher never waits on a slow consumer.
	MaxPending int
	// MaxMemory is the memory budget in bytes for what the broker holds on
	// clients' behalf: output waiting to be written and the adapters'
	// memory sources (AddMemorySource). Past it, new sessions are refused
	// (ErrMaxConnections) and the sessions holding the most are closed as
	// slow consumers until the rest fits. Zero: no budget.
	MaxMemory int64
	// Retained stores retained messages. Nil means a MemoryStore without limits.
	// The broker closes it in Close.
	Retained RetainedStore
	// Authenticator checks every session's credentials and gives it its
	// principal. Nil accepts everyone, with no restriction, as the user
	// they name.
	Authenticator Authenticator
	// OnEvent, when set, is called for session lifecycle events. It is called
	// synchronously from the goroutine that opened or closed the session and
	// must not block.
	OnEvent func(Event)
}

func (o *Options) setDefaults() error {
	for _, l := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxConnections", &o.MaxConnections, DefaultMaxConnections},
		{"MaxPayload", &o.MaxPayload, DefaultMaxPayload},
		{"MaxSubscriptions", &o.MaxSubscriptions, DefaultMaxSubscriptions},
		{"MaxSubscriptionsPerTopic", &o.MaxSubscriptionsPerTopic, DefaultMaxSubscriptionsPerTopic},
		{"MaxPending", &o.MaxPending, DefaultMaxPending},
	} {
		switch {
		case *l.v < 0:
			return fmt.Errorf("broker: %s must not be negative, got %d", l.name, *l.v)
		case *l.v == 0:
			*l.v = l.def
		}
	}
	if o.MaxMemory < 0 {
		return fmt.Errorf("broker: MaxMemory must not be negative, got %d", o.MaxMemory)
	}
	if o.Retained == nil {
		o.Retained = NewMemoryStore(0, 0)
	}
	return nil
}

// Credentials are what a client presents when it connects.
type Credentials struct {
	Token    string
	User     string
	Password string
}

// Authenticator decides whether a session may open, and as whom.
type Authenticator interface {
	// Authenticate returns the principal the session acts as, from the
	// credentials and info.Peer (a client certificate in info.Peer.TLS may
	// be an identity). A refusal should wrap ErrAuth.
	Authenticate(info SessionInfo, cred Credentials) (Principal, error)
}

// StaticAuth accepts a client that presents the token, or one of the
// user/password pairs, or both; any wrong credential presented refuses it.
// With neither configured it accepts everyone. Its
// principals have the user's name (none for the token) and no restriction.
type StaticAuth struct {
	Token string
	Users map[string]string
}

// Authenticate implements Authenticator. Secrets are compared in constant time.
func (a *StaticAuth) Authenticate(_ SessionInfo, c Credentials) (Principal, error) {
	if a.Token == "" && len(a.Users) == 0 {
		return Principal{User: c.User}, nil
	}
	if c.Token == "" && c.User == "" {
		return Principal{}, fmt.Errorf("%w: credentials required", ErrAuth)
	}
	// Every credential presented must be right (docs/protocol.md): a
	// working one does not hide a wrong one, and a token does not let a
	// client claim a user name.
	if c.Token != "" && (a.Token == "" || subtle.ConstantTimeCompare([]byte(a.Token), []byte(c.Token)) != 1) {
		return Principal{}, fmt.Errorf("%w: invalid credentials", ErrAuth)
	}
	if c.User != "" {
		if pw, ok := a.Users[c.User]; !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(c.Password)) != 1 {
			return Principal{}, fmt.Errorf("%w: invalid credentials", ErrAuth)
		}
	}
	return Principal{User: c.User}, nil
}

var errNilConn = errors.New("broker: nil Conn")
