// Package certs holds a listener's TLS certificate and client CA, loaded
// from files and swappable at runtime: a reload replaces them for new
// handshakes without closing a connection.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// Files names what a listener's TLS is made of.
type Files struct {
	CertFile, KeyFile string // the server certificate; empty: Fallback
	ClientCAFile      string // PEM CAs that sign client certificates; empty: none asked
	// Verify: every client must present a certificate signed by
	// ClientCAFile. Without it a certificate is optional, but one that is
	// presented must verify.
	Verify bool
}

// ErrNoClientCert is why a handshake fails when Verify is on and the client
// sent no certificate.
var ErrNoClientCert = errors.New("certs: a client certificate is required")

// Server is a listener's TLS material.
type Server struct {
	askClients bool // fixed at Load: whether the handshake requests a client certificate
	fallback   *tls.Certificate
	state      atomic.Pointer[state]
}

type state struct {
	cert   *tls.Certificate
	pool   *x509.CertPool // nil: no client CA
	verify bool
}

// Load reads f. fallback, if not nil, is the certificate used when
// f.CertFile is empty (QUIC's generated one).
func Load(f Files, fallback *tls.Certificate) (*Server, error) {
	s := &Server{askClients: f.ClientCAFile != "", fallback: fallback}
	if err := s.Reload(f); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads f and, only if all of it is good, makes it the material of
// new handshakes. Whether client certificates are asked for at all is
// fixed when the listener starts: adding or removing ClientCAFile is an
// error.
func (s *Server) Reload(f Files) error {
	if (f.ClientCAFile != "") != s.askClients {
		return errors.New("client_ca_file cannot be added or removed at runtime; restart the broker")
	}
	if f.Verify && f.ClientCAFile == "" {
		return errors.New("verify needs client_ca_file")
	}
	st := &state{verify: f.Verify, cert: s.fallback}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return err
		}
		st.cert = &cert
	}
	if st.cert == nil {
		return errors.New("no certificate: cert_file and key_file are required")
	}
	if f.ClientCAFile != "" {
		pem, err := os.ReadFile(f.ClientCAFile)
		if err != nil {
			return fmt.Errorf("client_ca_file: %w", err)
		}
		st.pool = x509.NewCertPool()
		if !st.pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("client_ca_file %s holds no PEM certificate", f.ClientCAFile)
		}
	}
	s.state.Store(st)
	return nil
}

// Fallback returns the certificate given to Load for an empty CertFile.
func (s *Server) Fallback() *tls.Certificate { return s.fallback }

// Certificate returns the server certificate in force.
func (s *Server) Certificate() *tls.Certificate { return s.state.Load().cert }

// Config returns a server configuration that takes its certificate and
// client CA from s at each handshake. Listeners may clone and extend it
// (ALPN, minimum version); the callbacks stay.
func (s *Server) Config() *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.state.Load().cert, nil
		},
	}
	if s.askClients {
		// The chain is checked in VerifyConnection against the pool in
		// force, so that a reload of the CA applies to the next handshake.
		c.ClientAuth = tls.RequestClientCert
		c.VerifyConnection = s.verifyClient
	}
	return c
}

func (s *Server) verifyClient(cs tls.ConnectionState) error {
	st := s.state.Load()
	if len(cs.PeerCertificates) == 0 {
		if st.verify {
			return ErrNoClientCert
		}
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: st.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("certs: client certificate: %w", err)
	}
	return nil
}
