// Package certstest makes certificates for tests: a CA, server
// certificates for 127.0.0.1, and client certificates with the names a
// test chooses, written as PEM files in a test's temporary directory.
package certstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for one test.
type CA struct {
	Cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	File   string // its certificate, PEM
	dir    string
	serial int64
	tb     testing.TB
}

// NewCA makes a CA named name, its certificate written to a file.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{Cert: cert, key: key, dir: tb.TempDir(), serial: 1, tb: tb}
	ca.File = ca.write(name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

// Pool returns a pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issued is a certificate with its key, in memory and in files.
type Issued struct {
	TLS               tls.Certificate
	CertFile, KeyFile string
}

// Server issues a server certificate for 127.0.0.1 and localhost.
func (ca *CA) Server(name string) Issued {
	return ca.issue(name, &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// Client issues a client certificate with subject common name cn and the
// DNS and email alternative names given.
func (ca *CA) Client(cn string, dns, emails []string) Issued {
	return ca.issue(cn, &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, DNSNames: dns, EmailAddresses: emails,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *CA) issue(name string, tmpl *x509.Certificate) Issued {
	ca.tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.tb.Fatal(err)
	}
	ca.serial++
	tmpl.SerialNumber = big.NewInt(ca.serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.tb.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		ca.tb.Fatal(err)
	}
	base := name + "-" + big.NewInt(ca.serial).String()
	is := Issued{
		CertFile: ca.write(base+".pem", "CERTIFICATE", der),
		KeyFile:  ca.write(base+"-key.pem", "EC PRIVATE KEY", kder),
	}
	is.TLS, err = tls.LoadX509KeyPair(is.CertFile, is.KeyFile)
	if err != nil {
		ca.tb.Fatal(err)
	}
	return is
}

func (ca *CA) write(name, typ string, der []byte) string {
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		ca.tb.Fatal(err)
	}
	return path
}
