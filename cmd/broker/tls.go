package main

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/msgtrans/msgtrans/internal/certs"
)

// tlsSet holds the TLS material of every listener, by config key, so that
// a reload can replace certificates and client CAs for new handshakes
// without closing a connection.
type tlsSet struct {
	byKey map[string]*certs.Server
}

func newTLSSet() *tlsSet { return &tlsSet{byKey: map[string]*certs.Server{}} }

// serverTLS builds the server TLS configuration of the listener whose TLS
// section c is (key: "tcp.tls", ...), or nil when c sets no certificate and
// there is no fallback. Every listener, the MQTT one included, builds its
// TLS here: the certificate and client CA are read at each handshake from
// what the last reload loaded. fallback is the certificate used without
// cert_file (QUIC's generated one), or nil.
func (ts *tlsSet) serverTLS(c TLSConfig, key string, fallback *tls.Certificate) (*tls.Config, error) {
	if c.CertFile == "" && fallback == nil {
		return nil, nil
	}
	s, err := certs.Load(tlsFiles(c), fallback)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	ts.byKey[key] = s
	return s.Config(), nil
}

// reload loads the TLS sections of cfg for the listeners that have TLS. It
// checks every one before it changes any, so that a bad file leaves all
// listeners as they were.
func (ts *tlsSet) reload(cfg Config) error {
	type pending struct {
		s *certs.Server
		f certs.Files
	}
	var todo []pending
	var errs []error
	for _, sec := range cfg.tlsSections() {
		s, ok := ts.byKey[sec.key]
		if !ok {
			continue
		}
		// Load into a scratch copy first: a bad file must not leave some
		// listeners changed and others not.
		f := tlsFiles(sec.tls)
		if _, err := certs.Load(f, s.Fallback()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sec.key, err))
			continue
		}
		todo = append(todo, pending{s, f})
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, p := range todo {
		if err := p.s.Reload(p.f); err != nil {
			return err // read between the two loads; nothing better to do than say so
		}
	}
	return nil
}
