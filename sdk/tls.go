package sdk

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrCertPin is returned when the server's certificate does not match the
// pinned fingerprint.
var ErrCertPin = errors.New("sdk: server certificate does not match the pinned SHA-256 fingerprint")

// RootCAs trusts the certificates in pool for tls://, wss:// and quic://.
func RootCAs(pool *x509.CertPool) Option {
	return func(o *Options) error { o.rootCAs = pool; return nil }
}

// RootCAFile trusts the PEM certificates in file.
func RootCAFile(file string) Option {
	return func(o *Options) error {
		pem, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("sdk: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("sdk: CA file %s holds no PEM certificate", file)
		}
		o.rootCAs = pool
		return nil
	}
}

// ServerName sets the name the server certificate is checked against,
// instead of the URL's host.
func ServerName(name string) Option {
	return func(o *Options) error { o.serverName = name; return nil }
}

// InsecureSkipVerify accepts any server certificate. For development only:
// it makes TLS useless against an active attacker. Prefer PinnedCertSHA256
// for a self-signed certificate.
func InsecureSkipVerify() Option {
	return func(o *Options) error { o.insecure = true; return nil }
}

// PinnedCertSHA256 trusts exactly the server certificate whose SHA-256
// fingerprint (hex, colons allowed) is fp, such as the one the broker logs
// for its generated QUIC certificate; chain verification is replaced by the
// pin check.
func PinnedCertSHA256(fp string) Option {
	return func(o *Options) error {
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(fp), ":", ""))
		if err != nil || len(b) != sha256.Size {
			return fmt.Errorf("sdk: pinned fingerprint must be 64 hex digits, got %q", fp)
		}
		o.pin = b
		return nil
	}
}

// ClientCert presents the certificate in certFile (PEM, the chain after
// the leaf if any) with the private key in keyFile to brokers that ask for
// one (mTLS: tls.client_ca_file), over tls://, wss:// and quic://. With
// tls.map_identity the certificate's name is the user the client acts as.
func ClientCert(certFile, keyFile string) Option {
	return func(o *Options) error {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("sdk: client certificate: %w", err)
		}
		o.clientCert = &cert
		return nil
	}
}

// tlsConfig builds the client TLS configuration for host.
func (o *Options) tlsConfig(host string) *tls.Config {
	cfg := &tls.Config{}
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	}
	if o.rootCAs != nil {
		cfg.RootCAs = o.rootCAs
	}
	if o.serverName != "" {
		cfg.ServerName = o.serverName
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if o.insecure {
		cfg.InsecureSkipVerify = true
	}
	if o.clientCert != nil {
		cfg.Certificates = []tls.Certificate{*o.clientCert}
	}
	if pin := o.pin; pin != nil {
		cfg.InsecureSkipVerify = true // the pin replaces chain verification
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrCertPin
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if string(sum[:]) != string(pin) {
				return fmt.Errorf("%w: got %x", ErrCertPin, sum)
			}
			return nil
		}
	}
	return cfg
}
