// Package auth is the broker's authorizer: users with bcrypt or plain-text
// passwords, a shared token, client-certificate identities, and
// NATS-like publish and subscribe permissions compiled for fast checks.
// The broker is given a Live, which implements broker.Authenticator with
// the Authorizer in force; a reload builds a new Authorizer, swaps it in,
// and passes Live.Reauthorize to broker.Broker.Reauthorize for the
// sessions already open.
package auth

import (
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"

	"golang.org/x/crypto/bcrypt"

	"github.com/msgtrans/msgtrans/broker"
)

// Options are the parts of the authorizer that are not the auth section.
type Options struct {
	// MapIdentity lists the peer protocols (broker.Peer.Protocol: "tls",
	// "wss", "quic", or a plugin's name) whose verified client certificate
	// names the user, as tls.map_identity asks.
	MapIdentity []string
	// Throttle slows down repeated login failures from one address; zero
	// values take the defaults.
	Throttle ThrottleOptions
}

// Authorizer implements broker.Authenticator.
type Authorizer struct {
	live     *Live // the Live it was swapped into, if any
	token    string
	users    map[string]*user
	defaults *permSet
	removed  *permSet // for a session whose user is gone, until the reload closes it
	open     bool     // no user and no token: anyone may connect
	hashed   bool     // some password is a bcrypt hash
	mapID    []string
	throttle *Throttle
}

type user struct {
	name     string
	password string // hash or plain text; empty: certificate only
	hashed   bool
	perms    *permSet // nil: the defaults
}

// ErrThrottled is the reason given to a client refused because its
// address failed too often lately; its credentials were not checked.
var ErrThrottled = errors.New("too many failed logins from this address; retry later")

// New compiles cfg, which must be valid (Config.Validate). The throttle is
// kept from prev, when given, so that a reload does not forget failures.
func New(cfg Config, opts Options, prev *Authorizer) (*Authorizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Authorizer{
		token:    cfg.Token,
		users:    make(map[string]*user, len(cfg.Users)),
		defaults: compile(cfg.DefaultPermissions),
		removed:  compile(&Permissions{Publish: Rules{Deny: []string{">"}}, Subscribe: Rules{Deny: []string{">"}}}),
		open:     cfg.Token == "" && len(cfg.Users) == 0,
		mapID:    slices.Clone(opts.MapIdentity),
	}
	if prev != nil {
		a.throttle = prev.throttle
	} else {
		a.throttle = NewThrottle(opts.Throttle)
	}
	for _, u := range cfg.Users {
		nu := &user{name: u.User, password: u.Password, hashed: isHash(u.Password)}
		a.hashed = a.hashed || nu.hashed
		if u.Permissions != nil {
			nu.perms = compile(u.Permissions)
		}
		a.users[u.User] = nu
	}
	return a, nil
}

// retire marks a's rule sets as replaced by a reload's.
func (a *Authorizer) retire() {
	a.defaults.retired.Store(true)
	a.removed.retired.Store(true)
	for _, u := range a.users {
		if u.perms != nil {
			u.perms.retired.Store(true)
		}
	}
}

// PlainTextUsers names the users whose password is written in plain text,
// for the warning at start.
func PlainTextUsers(cfg Config) []string {
	var names []string
	for _, u := range cfg.Users {
		if u.Password != "" && !isHash(u.Password) {
			names = append(names, u.User)
		}
	}
	return names
}

// Authenticate implements broker.Authenticator.
func (a *Authorizer) Authenticate(info broker.SessionInfo, c broker.Credentials) (broker.Principal, error) {
	addr := remoteHost(info.RemoteAddr)
	release, err := a.throttle.Wait(addr)
	if err != nil {
		return broker.Principal{}, fmt.Errorf("%w: %w", broker.ErrAuth, err)
	}
	p, err := a.authenticate(info, c)
	release(err == nil)
	if err != nil {
		return broker.Principal{}, fmt.Errorf("%w: %w", broker.ErrAuth, err)
	}
	return p, nil
}

var (
	errCredentials = errors.New("credentials required")
	errInvalid     = errors.New("invalid credentials")
)

func (a *Authorizer) authenticate(info broker.SessionInfo, c broker.Credentials) (broker.Principal, error) {
	if cert := a.clientCert(info.Peer); cert != nil {
		u, err := a.certUser(cert)
		if err != nil {
			return broker.Principal{}, err
		}
		if c.User != "" && c.User != u.name {
			return broker.Principal{}, fmt.Errorf("the client certificate is user %q, not %q", u.name, c.User)
		}
		return a.principal(identity{kind: byCertificate, user: u.name}), nil
	}
	if a.open {
		// Nobody is configured: the name is the client's own claim, shown
		// in stats, and proves nothing.
		return a.principal(identity{kind: anonymous, user: c.User}), nil
	}
	// Every credential presented must be right: a wrong token next to a
	// right password (or the reverse) is a mistake or a guess, and a
	// working credential must not hide it. With both right the session is
	// the user's, whose permissions are the more specific.
	if c.Token != "" && (a.token == "" || subtle.ConstantTimeCompare([]byte(a.token), []byte(c.Token)) != 1) {
		return broker.Principal{}, errInvalid
	}
	if c.User != "" {
		u := a.users[c.User]
		if !a.checkPassword(u, c.Password) {
			return broker.Principal{}, errInvalid
		}
		return a.principal(identity{kind: byPassword, user: u.name}), nil
	}
	if c.Token != "" {
		return a.principal(identity{kind: byToken, token: a.token}), nil
	}
	return broker.Principal{}, errCredentials
}

// dummyHash is compared against for an unknown user when passwords are
// hashed, so that a refusal takes as long whether the user exists or not.
// It is the hash of a random password nobody kept.
const dummyHash = "$2a$10$kPNsz6bMSk/4.eRzdlk41u/Z.28p3/IerrZoY6GvhjgWhKpuSQT8O"

func (a *Authorizer) checkPassword(u *user, password string) bool {
	if u == nil || u.password == "" {
		if a.hashed {
			bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte(password))
		}
		return false
	}
	if u.hashed {
		return bcrypt.CompareHashAndPassword([]byte(u.password), []byte(password)) == nil
	}
	return subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) == 1
}

func (a *Authorizer) principal(id identity) broker.Principal {
	p := &sessionPerms{live: a.live, id: id}
	p.res.Store(&resolved{a: a, set: a.setFor(id)})
	return broker.Principal{User: id.user, Permissions: p}
}

// setFor returns the rule set of a session that logged in as id: its
// user's own, or the defaults; nothing for a user no longer configured.
func (a *Authorizer) setFor(id identity) *permSet {
	if id.kind != byPassword && id.kind != byCertificate {
		return a.defaults
	}
	u := a.users[id.user]
	switch {
	case u == nil:
		return a.removed
	case u.perms != nil:
		return u.perms
	}
	return a.defaults
}

// clientCert returns the verified client certificate of a peer whose
// listener maps identities, or nil.
func (a *Authorizer) clientCert(p broker.Peer) *x509.Certificate {
	if p.TLS == nil || len(p.TLS.PeerCertificates) == 0 || !slices.Contains(a.mapID, p.Protocol) {
		return nil
	}
	return p.TLS.PeerCertificates[0]
}

// certUser finds the user a certificate names: its email, DNS and URI
// subject alternative names, then its subject's distinguished name and
// common name, in that order.
func (a *Authorizer) certUser(cert *x509.Certificate) (*user, error) {
	names := CertNames(cert)
	for _, n := range names {
		if u, ok := a.users[n]; ok {
			return u, nil
		}
	}
	return nil, fmt.Errorf("client certificate names no configured user (it names %q)", names)
}

// CertNames lists the identities a client certificate offers for
// tls.map_identity, in the order they are tried.
func CertNames(cert *x509.Certificate) []string {
	var names []string
	names = append(names, cert.EmailAddresses...)
	names = append(names, cert.DNSNames...)
	for _, u := range cert.URIs {
		names = append(names, u.String())
	}
	names = append(names, cert.Subject.String())
	if cn := cert.Subject.CommonName; cn != "" {
		names = append(names, cn)
	}
	return names
}

// ErrRevoked is why a reload closes a session: its user or its way of
// logging in is no longer configured.
var ErrRevoked = errors.New("no longer authorized after a configuration reload")

// check reports why a session that logged in as id under an earlier
// configuration may not stay under a. A changed password does not end
// sessions that logged in with the old one; a removed user, a changed
// token, or credentials now required from an anonymous session do.
func (a *Authorizer) check(id identity) error {
	var why string
	switch id.kind {
	case anonymous:
		if !a.open {
			why = "credentials are now required"
		}
	case byToken:
		if a.token == "" || a.token != id.token {
			why = "the token changed"
		}
	case byPassword, byCertificate:
		u := a.users[id.user]
		switch {
		case u == nil:
			why = fmt.Sprintf("user %q was removed", id.user)
		case id.kind == byPassword && u.password == "":
			why = fmt.Sprintf("user %q may now log in with a certificate only", id.user)
		}
	}
	if why != "" {
		return fmt.Errorf("%w: %w: %s", broker.ErrAuth, ErrRevoked, why)
	}
	return nil
}

// Throttle returns the failed-login throttle, shared with the authorizers
// a reload builds from this one.
func (a *Authorizer) Throttle() *Throttle { return a.throttle }

func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

var _ broker.Authenticator = (*Authorizer)(nil)
