package certs_test

import (
	"crypto/tls"
	"testing"

	"github.com/msgtrans/msgtrans/internal/certs"
	"github.com/msgtrans/msgtrans/internal/certs/certstest"
)

// serve accepts TLS connections with cfg and completes their handshakes.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Write([]byte{1}) // a client certificate refusal shows on the client's first read
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// handshake connects and returns the server certificate's serial, or the
// error of the handshake or of the first read.
func handshake(addr string, ca *certstest.CA, client *tls.Certificate) (string, error) {
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func TestReloadAppliesToNewHandshakes(t *testing.T) {
	ca, ca2 := certstest.NewCA(t, "ca"), certstest.NewCA(t, "ca2")
	a, b := ca.Server("a"), ca.Server("b")
	alice := ca.Client("alice", nil, nil)
	bob := ca2.Client("bob", nil, nil)
	files := certs.Files{CertFile: a.CertFile, KeyFile: a.KeyFile, ClientCAFile: ca.File, Verify: true}
	s, err := certs.Load(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Config())

	if serial, err := handshake(addr, ca, &alice.TLS); err != nil || serial != a.TLS.Leaf.SerialNumber.String() {
		t.Fatalf("alice: %s %v", serial, err)
	}
	if _, err := handshake(addr, ca, nil); err == nil {
		t.Fatal("no client certificate accepted with verify")
	}
	if _, err := handshake(addr, ca, &bob.TLS); err == nil {
		t.Fatal("a certificate of another CA accepted")
	}

	// A bad reload changes nothing.
	bad := files
	bad.CertFile = "/nonexistent"
	if err := s.Reload(bad); err == nil {
		t.Fatal("reload of a missing file accepted")
	}
	noCA := files
	noCA.ClientCAFile = ""
	if err := s.Reload(noCA); err == nil {
		t.Fatal("client CA removed at runtime")
	}
	if serial, err := handshake(addr, ca, &alice.TLS); err != nil || serial != a.TLS.Leaf.SerialNumber.String() {
		t.Fatalf("after refused reloads: %s %v", serial, err)
	}

	// A good one: certificate b, client CA ca2, certificates optional.
	if err := s.Reload(certs.Files{CertFile: b.CertFile, KeyFile: b.KeyFile, ClientCAFile: ca2.File}); err != nil {
		t.Fatal(err)
	}
	if serial, err := handshake(addr, ca, &bob.TLS); err != nil || serial != b.TLS.Leaf.SerialNumber.String() {
		t.Fatalf("bob after the reload: %s %v", serial, err)
	}
	if _, err := handshake(addr, ca, &alice.TLS); err == nil {
		t.Fatal("alice's CA still trusted after the reload")
	}
	if _, err := handshake(addr, ca, nil); err != nil {
		t.Fatalf("no certificate without verify: %v", err)
	}
}

func TestFallbackCertificate(t *testing.T) {
	ca := certstest.NewCA(t, "ca")
	gen := ca.Server("generated")
	s, err := certs.Load(certs.Files{}, &gen.TLS)
	if err != nil {
		t.Fatal(err)
	}
	if s.Certificate() != &gen.TLS || s.Config().ClientAuth != tls.NoClientCert {
		t.Fatal("fallback not used, or client certificates asked without a CA")
	}
	if _, err := certs.Load(certs.Files{}, nil); err == nil {
		t.Fatal("no certificate at all accepted")
	}
	if _, err := certs.Load(certs.Files{Verify: true}, &gen.TLS); err == nil {
		t.Fatal("verify without a client CA accepted")
	}
}
