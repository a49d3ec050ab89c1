package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/internal/certs"
	"github.com/msgtrans/msgtrans/internal/certs/certstest"
)

func TestPasswd(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runPasswd([]string{"--cost", "4"}, strings.NewReader("hunter2\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	hash := strings.TrimSpace(out.String())
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("hunter2")); err != nil {
		t.Fatalf("%q is not a hash of the password: %v", hash, err)
	}
	if cost, _ := bcrypt.Cost([]byte(hash)); cost != 4 {
		t.Fatalf("cost %d, want 4", cost)
	}
	for _, c := range []struct {
		args  []string
		stdin string
		code  int
		want  string
	}{
		{[]string{"hunter2"}, "", 2, "never from the command line"},
		{[]string{"--cost", "3"}, "x\n", 2, "--cost 3"},
		{nil, "", 1, "no password on stdin"},
		{nil, "\n", 1, "empty password"},
		{nil, strings.Repeat("x", 73) + "\n", 1, "at most 72"},
	} {
		out.Reset()
		errb.Reset()
		code := runPasswd(c.args, strings.NewReader(c.stdin), &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) || out.Len() > 0 {
			t.Errorf("passwd %q <%q: exit %d, stderr %q, stdout %q; want %d and %q", c.args, c.stdin, code, errb.String(), out.String(), c.code, c.want)
		}
	}
	// Through run, as a user types it.
	if r := runCLI(t, "passwd", "--cost", "99"); r.code != 2 {
		t.Fatalf("msgtrans passwd --cost 99: exit %d", r.code)
	}
}

// --tls-cert and --tls-key present a client certificate to a broker that
// requires one.
func TestClientCertFlags(t *testing.T) {
	ca := certstest.NewCA(t, "cli-ca")
	server, client := ca.Server("broker"), ca.Client("cli", nil, nil)
	other := certstest.NewCA(t, "other").Client("cli", nil, nil)
	s, err := certs.Load(certs.Files{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientCAFile: ca.File, Verify: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := adapterstest.Start(t, adapterstest.Config{TCP: tcp.Options{TLS: s.Config()}})
	if !strings.HasPrefix(srv.URL, "tls://") {
		t.Fatalf("URL %s", srv.URL)
	}
	base := []string{"pub", "--server", srv.URL, "--ca", ca.File, "--ack"}
	mustOK(t, runCLI(t, append(base, "--tls-cert", client.CertFile, "--tls-key", client.KeyFile, "a.b", "x")...), "pub with a client certificate")
	for _, c := range []struct {
		args []string
		code int
	}{
		{nil, 1}, // no certificate: the broker refuses the handshake
		{[]string{"--tls-cert", other.CertFile, "--tls-key", other.KeyFile}, 1},
		{[]string{"--tls-cert", client.CertFile}, 2},
		{[]string{"--tls-cert", client.CertFile, "--tls-key", other.KeyFile}, 1}, // key of another certificate
	} {
		r := runCLI(t, append(append(append([]string{}, base...), c.args...), "a.b", "x")...)
		if r.code != c.code {
			t.Errorf("pub %q: exit %d (stderr %q), want %d", c.args, r.code, r.stderr, c.code)
			continue
		}
		oneErrorLine(t, r)
	}
}
