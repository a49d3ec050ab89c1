package main

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/auth"
	"github.com/msgtrans/msgtrans/internal/certs"
)

// AuthConfig is the auth section: users, passwords, permissions (see
// docs/security.md).
type AuthConfig = auth.Config

// tlsSections names every listener's TLS section with its key, and the
// peer protocol its TLS sessions carry (broker.Peer.Protocol), which
// map_identity is keyed by.
func (c *Config) tlsSections() []struct {
	key, protocol string
	tls           TLSConfig
} {
	return []struct {
		key, protocol string
		tls           TLSConfig
	}{
		{"tcp.tls", "tls", c.TCP.TLS},
		{"ws.tls", "wss", c.WS.TLS},
		{"quic.tls", "quic", c.QUIC.TLS},
		{"mqtt.tls", "mqtt", c.MQTT.TLS.TLSConfig}, // the linked-in MQTT protocol's sessions
		{"http.tls", "https", c.HTTP.TLS},          // no client certificates: see HTTPConfig.validate
	}
}

// validateSecurity checks the auth section and the mTLS keys of every
// listener.
func (c *Config) validateSecurity() []error {
	var errs []error
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, err)
	}
	mapping := false
	for _, s := range c.tlsSections() {
		t := s.tls
		// QUIC always has a certificate (a generated one by default).
		if t.ClientCAFile != "" && t.CertFile == "" && s.key != "quic.tls" {
			errs = append(errs, fmt.Errorf("%s.client_ca_file: needs cert_file and key_file (the listener must speak TLS)", s.key))
		}
		if t.Verify && t.ClientCAFile == "" {
			errs = append(errs, fmt.Errorf("%s.verify: needs client_ca_file, the CA that signs client certificates", s.key))
		}
		if t.MapIdentity && t.ClientCAFile == "" {
			errs = append(errs, fmt.Errorf("%s.map_identity: needs client_ca_file: only a verified certificate may name a user", s.key))
		}
		mapping = mapping || t.MapIdentity
	}
	for i, u := range c.Auth.Users {
		if u.Password == "" && !mapping {
			errs = append(errs, fmt.Errorf("auth.users[%d].password: must be set; a user without one can only log in with a client certificate, and no listener has tls.map_identity", i))
		}
	}
	return errs
}

// newAuthorizer builds the authorizer of cfg, keeping prev's failed-login
// throttle on a reload.
func newAuthorizer(cfg Config, prev *auth.Authorizer) (*auth.Authorizer, error) {
	var mapID []string
	for _, s := range cfg.tlsSections() {
		if s.tls.MapIdentity {
			mapID = append(mapID, s.protocol)
		}
	}
	return auth.New(cfg.Auth, auth.Options{MapIdentity: mapID}, prev)
}

// warnPlainText logs, at start and on reload, the users whose password is
// kept in plain text.
func warnPlainText(log zerolog.Logger, cfg Config) {
	if names := auth.PlainTextUsers(cfg.Auth); len(names) > 0 {
		log.Warn().Strs("users", names).Msg("passwords in plain text in the configuration; store bcrypt hashes instead (msgtrans passwd)")
	}
}

// tlsFiles is what internal/certs loads for a listener's TLS section.
func tlsFiles(t TLSConfig) certs.Files {
	return certs.Files{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile, Verify: t.Verify}
}
