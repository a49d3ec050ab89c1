package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/msgtrans/msgtrans/internal/certs/certstest"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

// listenURLs reads the URL of each TLS listener from the broker's log.
func (p *proc) listenURLs(t *testing.T) map[string]string {
	t.Helper()
	urls := map[string]string{}
	for _, scheme := range []string{"tls", "wss", "quic"} {
		line := p.waitLog(t, "listening for "+scheme+"://")
		urls[scheme] = scheme + "://" + line["addr"].(string)
	}
	urls["wss"] += "/ws"
	return urls
}

func mtlsSection(server certstest.Issued, ca *certstest.CA) string {
	return fmt.Sprintf(`
  tls:
    cert_file: %s
    key_file: %s
    client_ca_file: %s
    verify: true
    map_identity: true
`, server.CertFile, server.KeyFile, ca.File)
}

// mTLS on every transport: the client must present a certificate signed by
// client_ca_file, and with map_identity the certificate's name is the user
// whose permissions apply.
func TestMTLSOnEveryTransport(t *testing.T) {
	ca, rogue := certstest.NewCA(t, "msgtrans-test-ca"), certstest.NewCA(t, "rogue-ca")
	server := ca.Server("broker")
	alice := ca.Client("device-1", []string{"alice.devices.example.com"}, nil)
	stranger := ca.Client("stranger", nil, nil)
	mallory := rogue.Client("alice.devices.example.com", []string{"alice.devices.example.com"}, nil)
	sec := mtlsSection(server, ca)
	cfg := writeConfig(t, "tcp:"+sec+"ws:"+sec+"quic:"+sec+`
auth:
  users:
    - user: alice.devices.example.com
      permissions:
        publish: { allow: ["alice.>"] }
`)
	p := startBroker(t, "--config", cfg, "--data-dir", t.TempDir())
	urls := p.listenURLs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for scheme, url := range urls {
		t.Run(scheme, func(t *testing.T) {
			dial := func(opts ...sdk.Option) (*sdk.Conn, error) {
				opts = append(opts, sdk.RootCAFile(ca.File), sdk.MaxReconnects(0), sdk.ConnectTimeout(3*time.Second))
				return sdk.Connect(url, opts...)
			}
			c, err := dial(sdk.ClientCert(alice.CertFile, alice.KeyFile))
			if err != nil {
				t.Fatalf("with a good certificate: %v", err)
			}
			defer c.Close()
			if err := c.PublishAck(ctx, &sdk.Msg{Topic: "alice.x"}); err != nil {
				t.Fatalf("alice's own topic: %v", err)
			}
			if err := c.PublishAck(ctx, &sdk.Msg{Topic: "bob.x"}); !errors.Is(err, sdk.ErrPermission) {
				t.Fatalf("another topic: %v, want the permission error of alice's rules", err)
			}
			for what, opts := range map[string][]sdk.Option{
				"without a certificate":            nil,
				"with a certificate of another CA": {sdk.ClientCert(mallory.CertFile, mallory.KeyFile)},
			} {
				if c, err := dial(opts...); err == nil {
					c.Close()
					t.Fatalf("connected %s", what)
				}
			}
			if c, err := dial(sdk.ClientCert(stranger.CertFile, stranger.KeyFile)); !errors.Is(err, sdk.ErrAuth) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("a certificate naming no user: %v, want an auth error", err)
			}
		})
	}
}

// brokerCert captures the certificate a broker presents.
func brokerCert(serial *string) sdk.Option {
	return sdk.TLSConfig(&tls.Config{VerifyConnection: func(cs tls.ConnectionState) error {
		*serial = cs.PeerCertificates[0].SerialNumber.String()
		return nil
	}})
}

func hashFor(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// SIGHUP reloads users, permissions, certificates and the log level
// without closing a connection; a bad configuration, or one that changes
// what cannot change at runtime, is refused and the old one kept.
func TestSIGHUPReload(t *testing.T) {
	ca := certstest.NewCA(t, "msgtrans-test-ca")
	certA, certB := ca.Server("a"), ca.Server("b")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "broker.yaml")
	write := func(cert certstest.Issued, level, users string) {
		body := fmt.Sprintf("log:\n  level: %s\ntcp:\n  tls:\n    cert_file: %s\n    key_file: %s\nauth:\n  users:\n%s",
			level, cert.CertFile, cert.KeyFile, users)
		if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	admin := "    - { user: admin, password: pw, permissions: {} }\n"
	aliceHash := hashFor(t, "secret")
	alice := func(sub string) string {
		return fmt.Sprintf("    - user: alice\n      password: %q\n      permissions:\n        subscribe: { allow: [%s, \"_INBOX.>\"] }\n", aliceHash, sub)
	}
	bob := "    - { user: bob, password: pw }\n"
	write(certA, "info", admin+alice(`"a.>", "b.>"`)+bob)

	p := startBroker(t, "--config", cfgPath, "--data-dir", filepath.Join(dir, "data"), "--ws", "", "--quic", "")
	warn := p.waitLog(t, "passwords in plain text")
	if users := fmt.Sprint(warn["users"]); !strings.Contains(users, "admin") || !strings.Contains(users, "bob") || strings.Contains(users, "alice") {
		t.Fatalf("plain-text warning names %s, want admin and bob only", users)
	}
	url := p.listenURLs1(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var serial string
	dial := func(user, pw string, opts ...sdk.Option) *sdk.Conn {
		t.Helper()
		opts = append(opts, sdk.RootCAFile(ca.File), sdk.UserInfo(user, pw), sdk.MaxReconnects(0))
		c, err := sdk.Connect(url, opts...)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	pub := dial("admin", "pw")
	errs := make(chan error, 8)
	disconnected := make(chan error, 4)
	al := dial("alice", "secret", brokerCert(&serial),
		sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) { errs <- err }),
		sdk.DisconnectHandler(func(_ *sdk.Conn, err error) { disconnected <- err }))
	if serial != certA.TLS.Leaf.SerialNumber.String() {
		t.Fatalf("broker presented certificate %s, want a's %s", serial, certA.TLS.Leaf.SerialNumber)
	}
	subA, err := al.SubscribeSync("a.x")
	if err != nil {
		t.Fatal(err)
	}
	subB, err := al.SubscribeSync("b.x")
	if err != nil {
		t.Fatal(err)
	}
	bobGone := make(chan error, 1)
	dial("bob", "pw", sdk.DisconnectHandler(func(_ *sdk.Conn, err error) { bobGone <- err }))
	if err := al.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Reload: b.> no longer allowed, bob removed, certificate b, debug.
	write(certB, "debug", admin+alice(`"a.>"`))
	from := len(p.seen)
	p.cmd.Process.Signal(syscall.SIGHUP)
	done := p.waitLogFrom(t, from, "configuration reloaded")
	if done["sessions_kept"].(float64) != 2 || done["sessions_closed"].(float64) != 1 {
		t.Fatalf("reload: %v", done)
	}
	if err := <-errs; !errors.Is(err, sdk.ErrPermission) || !strings.Contains(err.Error(), "b.x") {
		t.Fatalf("alice was told %v, want the revocation of b.x", err)
	}
	select {
	case err := <-bobGone:
		if !errors.Is(err, sdk.ErrAuth) {
			t.Fatalf("bob's session ended with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the removed user's session stayed open")
	}
	for _, topic := range []string{"b.x", "a.x"} {
		if err := pub.PublishAck(ctx, &sdk.Msg{Topic: topic, Data: []byte(topic)}); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := subA.NextMsg(ctx); err != nil || m.Topic != "a.x" {
		t.Fatalf("alice's allowed subscription after the reload: %v %v", m, err)
	}
	if _, err := subB.NextMsg(ctx); !errors.Is(err, sdk.ErrPermission) {
		t.Fatalf("alice's revoked subscription: %v", err)
	}
	// New handshakes get certificate b; alice's connection never dropped.
	dial("admin", "pw", brokerCert(&serial))
	if serial != certB.TLS.Leaf.SerialNumber.String() {
		t.Fatalf("after the reload the broker presented %s, want b's %s", serial, certB.TLS.Leaf.SerialNumber)
	}
	p.waitLogFrom(t, from, `"level":"debug"`, "session opened")
	select {
	case err := <-disconnected:
		t.Fatalf("alice's connection dropped during the reload: %v", err)
	default:
	}

	// Refused reloads keep what is in force.
	for _, bad := range []struct{ body, want string }{
		{"auth:\n  users:\n    - { user: alice, password: \"$2a$10$broken\" }\n", "auth.users[0].password"},
		{"limits:\n  max_connections: 7\n", "limits.max_connections"}, // and tcp.tls, turned off here,
		{"tcp:\n  tls:\n    cert_file: /nonexistent.pem\n    key_file: /nonexistent.pem\n", "tcp.tls"},
	} {
		if err := os.WriteFile(cfgPath, []byte(bad.body), 0o600); err != nil {
			t.Fatal(err)
		}
		from := len(p.seen)
		p.cmd.Process.Signal(syscall.SIGHUP)
		line := p.waitLogFrom(t, from, "reload refused")
		if e := fmt.Sprint(line["error"]); !strings.Contains(e, bad.want) {
			t.Fatalf("refusal %q does not say %q", e, bad.want)
		}
	}
	if err := pub.PublishAck(ctx, &sdk.Msg{Topic: "a.x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := subA.NextMsg(ctx); err != nil {
		t.Fatalf("after refused reloads: %v", err)
	}
	c, err := sdk.Connect(url, sdk.RootCAFile(ca.File), sdk.UserInfo("alice", "secret"), sdk.MaxReconnects(0), brokerCert(&serial))
	if err != nil {
		t.Fatalf("alice after refused reloads: %v", err)
	}
	c.Close()
	if serial != certB.TLS.Leaf.SerialNumber.String() {
		t.Fatal("a refused reload changed the certificate")
	}
}

// drain reads the log lines that arrive within d into p.seen.
func (p *proc) drain(d time.Duration) {
	timeout := time.After(d)
	for {
		select {
		case line, ok := <-p.logs:
			if !ok {
				return
			}
			p.seen = append(p.seen, line)
		case <-timeout:
			return
		}
	}
}

// listenURLs1 is the TLS URL of the only (TCP) listener.
func (p *proc) listenURLs1(t *testing.T) string {
	t.Helper()
	return "tls://" + p.waitLog(t, "listening for tls://")["addr"].(string)
}

// Repeated failed logins from one address are slowed down, then refused
// without a password check, and logged at a bounded rate.
func TestFailedLoginsThrottledAndLogged(t *testing.T) {
	cfg := writeConfig(t, fmt.Sprintf("auth:\n  users:\n    - { user: alice, password: %q }\n", hashFor(t, "right")))
	p := startBroker(t, "--config", cfg, "--data-dir", t.TempDir(), "--ws", "", "--quic", "")
	url := "tcp://" + p.waitLog(t, "listening for tcp://")["addr"].(string)
	from := len(p.seen)
	const attempts = 40
	throttled := 0
	for range attempts {
		_, err := sdk.Connect(url, sdk.UserInfo("alice", "wrong"), sdk.MaxReconnects(0), sdk.ConnectTimeout(5*time.Second))
		if !errors.Is(err, sdk.ErrAuth) {
			t.Fatalf("a wrong password: %v", err)
		}
		if strings.Contains(err.Error(), "too many failed logins") {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("no attempt was refused as throttled")
	}
	line := p.waitLogFrom(t, from, "login failed")
	if line["remote"] == nil || line["user"] != "alice" || line["reason"] == nil {
		t.Fatalf("the log line does not say who and why: %v", line)
	}
	// The broker logs a failure before it answers it: every line is in
	// the pipe by now.
	p.drain(500 * time.Millisecond)
	logged := 0
	for _, l := range p.seen[from:] {
		if strings.Contains(l, "login failed") {
			logged++
		}
	}
	if logged > secLogBurst+2 {
		t.Fatalf("%d log lines for %d failed logins: not rate-limited", logged, attempts)
	}
	// A right password from the same address still works once the turn
	// comes: the throttle slows guessing, it does not lock the user out.
	time.Sleep(2 * time.Second)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := sdk.Connect(url, sdk.UserInfo("alice", "right"), sdk.MaxReconnects(0))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the right password is still refused: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// A second SIGTERM during a drain exits at once, even while the drain still
// waits for a client that reads nothing.
func TestSecondSignalExitsDuringDrain(t *testing.T) {
	cfg := writeConfig(t, "shutdown:\n  drain_timeout: 60s\nsessions:\n  write_timeout: 60s\n")
	p := startBroker(t, "--config", cfg, "--data-dir", t.TempDir(), "--ws", "", "--quic", "")
	addr := p.waitLog(t, "listening for tcp://")["addr"].(string)
	// A raw client that subscribes to everything and never reads.
	stuck, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	if tc, ok := stuck.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	hello := wire.AppendSub(wire.AppendHello(nil, &wire.Hello{Name: "stuck"}), 1, "flood", "")
	if _, err := stuck.Write(hello); err != nil {
		t.Fatal(err)
	}
	pub, err := sdk.Connect("tcp://"+addr, sdk.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Enough to fill the socket buffers: the broker's writer to stuck
	// blocks, so its session cannot finish draining.
	chunk := make([]byte, 64<<10)
	for range 200 {
		if err := pub.Publish("flood", chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitLog(t, "draining; a second signal exits at once")
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitLog(t, "second signal: exiting now")
	err = p.waitExit(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the second signal took %v to end the broker", d)
	}
}
