package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/adapters/quic"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/broker"
)

// result is what one run of the command produced.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command in-process with a bound on its duration.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return runCtx(ctx, args...)
}

func runCtx(ctx context.Context, args ...string) result {
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// runAsync starts the command in a goroutine; cancel stands for Ctrl-C.
func runAsync(t *testing.T, args ...string) (wait func() result, cancel context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	ch := make(chan result, 1)
	go func() { ch <- runCtx(ctx, args...) }()
	t.Cleanup(cancel)
	return func() result {
		select {
		case r := <-ch:
			return r
		case <-time.After(25 * time.Second):
			t.Fatalf("msgtrans %s did not end", strings.Join(args, " "))
			return result{}
		}
	}, cancel
}

// waitSubs waits until the broker holds at least n subscriptions.
func waitSubs(t *testing.T, srv *adapterstest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.B.Stats().Subscriptions < n {
		if time.Now().After(deadline) {
			t.Fatalf("broker has %d subscriptions, want %d", srv.B.Stats().Subscriptions, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustOK(t *testing.T, r result, what string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d, stderr %q, stdout %q", what, r.code, r.stderr, r.stdout)
	}
}

// oneErrorLine checks that stderr is exactly one line starting "msgtrans: ".
func oneErrorLine(t *testing.T, r result) {
	t.Helper()
	if !strings.HasPrefix(r.stderr, "msgtrans: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("stderr is not one msgtrans: line: %q", r.stderr)
	}
}

// pubSubRound publishes a retained message, starts sub with extra flags,
// then publishes two messages with headers and one binary payload, and
// returns sub's result.
func pubSubRound(t *testing.T, subFlags ...string) result {
	t.Helper()
	srv := adapterstest.Start(t, adapterstest.Config{})
	mustOK(t, runCLI(t, "pub", "--server", srv.URL, "--retain", "orders.cfg", "on"), "pub --retain")
	wait, _ := runAsync(t, append([]string{"sub", "--server", srv.URL, "orders.>", "--count", "4"}, subFlags...)...)
	waitSubs(t, srv, 1)
	r := runCLI(t, "pub", "--server", srv.URL, "--count", "2", "--header", "k=v", "--header", "a=1",
		"orders.eu.created", "msg {{i}}")
	mustOK(t, r, "pub --count 2")
	if !strings.HasPrefix(r.stdout, "published 2 messages to orders.eu.created in ") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("pub --count 2 summary = %q", r.stdout)
	}
	mustOK(t, runCLI(t, "pub", "--server", srv.URL, "--ack", "orders.bin", "\xff\x00"), "pub binary")
	res := wait()
	mustOK(t, res, "sub")
	return res
}

func TestPubSubDefaultFormat(t *testing.T) {
	r := pubSubRound(t)
	want := "[#1] orders.cfg (retained): on\n" +
		"[#2] orders.eu.created a=1 k=v: msg 0\n" +
		"[#3] orders.eu.created a=1 k=v: msg 1\n" +
		"[#4] orders.bin: base64:/wA=\n"
	if r.stdout != want {
		t.Errorf("sub output:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestPubSubRawFormat(t *testing.T) {
	r := pubSubRound(t, "--raw")
	if want := "on\nmsg 0\nmsg 1\n\xff\x00\n"; r.stdout != want {
		t.Errorf("sub --raw output %q, want %q", r.stdout, want)
	}
}

func TestPubSubJSONFormat(t *testing.T) {
	r := pubSubRound(t, "--json")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("sub --json printed %d lines: %q", len(lines), r.stdout)
	}
	var got []jsonMsg
	for _, l := range lines {
		var m jsonMsg
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, m)
	}
	if m := got[0]; m.Topic != "orders.cfg" || !m.Retained || m.Data != "on" || m.Encoding != "utf-8" || m.Headers != nil {
		t.Errorf("retained message = %+v", m)
	}
	for i, m := range got[1:3] {
		if m.Topic != "orders.eu.created" || m.Retained || m.Data != "msg "+string(rune('0'+i)) ||
			m.Headers.Get("k") != "v" || m.Headers.Get("a") != "1" {
			t.Errorf("message %d = %+v", i+2, m)
		}
	}
	if m := got[3]; m.Data != "/wA=" || m.Encoding != "base64" {
		t.Errorf("binary message = %+v", m)
	}
}

func TestSubQueueAndInterrupt(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	wait, cancel := runAsync(t, "sub", "--server", srv.URL, "--queue", "workers", "--raw", "jobs.*")
	waitSubs(t, srv, 1)
	mustOK(t, runCLI(t, "pub", "--server", srv.URL, "--count", "3", "jobs.new", "job {{i}}"), "pub")
	// pub's flush means the broker has queued the three deliveries; Ctrl-C
	// drains, so all three are printed even if none had arrived yet.
	cancel()
	r := wait()
	mustOK(t, r, "sub after Ctrl-C")
	if want := "job 0\njob 1\njob 2\n"; r.stdout != want {
		t.Errorf("sub --queue output %q, want %q", r.stdout, want)
	}
}

func TestSubInterruptWhileReconnecting(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	wait, cancel := runAsync(t, "sub", "--server", srv.URL, "a.>")
	waitSubs(t, srv, 1)
	srv.Stop()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	cancel()
	r := wait()
	mustOK(t, r, "sub interrupted while the broker is gone")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("sub took %v to stop", d)
	}
}

func TestReqReply(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	wait, cancel := runAsync(t, "reply", "--server", srv.URL, "--queue", "echo", "svc.*", "echo {{data}} from {{topic}}")
	waitSubs(t, srv, 1)
	r := runCLI(t, "req", "--server", srv.URL, "--header", "trace=abc", "svc.echo", "hi")
	mustOK(t, r, "req")
	if r.stdout != "echo hi from svc.echo\n" {
		t.Errorf("req printed %q", r.stdout)
	}
	cancel()
	rr := wait()
	mustOK(t, rr, "reply after Ctrl-C")
	if !strings.HasPrefix(rr.stdout, "[#1] svc.echo (reply to _INBOX.") || !strings.HasSuffix(rr.stdout, ") trace=abc: hi\n") {
		t.Errorf("reply printed %q", rr.stdout)
	}
}

func TestReqNoResponders(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	start := time.Now()
	r := runCLI(t, "req", "--server", srv.URL, "--timeout", "10s", "svc.nobody", "x")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", r.code, r.stderr)
	}
	oneErrorLine(t, r)
	if want := "msgtrans: no responders on \"svc.nobody\": nothing subscribes to it\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("no responders took %v: the timeout was waited for", time.Since(start))
	}
}

func TestPubAckRefused(t *testing.T) {
	// A full retained store: the broker refuses a retained publish to a new
	// topic, which nothing on the client side can see coming.
	store := broker.NewMemoryStore(1, 0)
	if err := store.Set(broker.RetainedMessage{Topic: "kept", Payload: []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{Retained: store}})
	r := runCLI(t, "pub", "--server", srv.URL, "--ack", "--retain", "refused", "x")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", r.code, r.stderr)
	}
	oneErrorLine(t, r)
	if !strings.HasPrefix(r.stderr, `msgtrans: publish to "refused": refused by the broker: `) || !strings.Contains(r.stderr, "(RETAINED_LIMIT)") {
		t.Errorf("stderr %q does not give the reason", r.stderr)
	}
}

// A topic or filter that breaks the topic rules is refused before it is
// sent, with what is wrong.
func TestBadTopicRefused(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	for _, tc := range []struct{ args []string }{
		{[]string{"pub", "--server", srv.URL, "--ack", "bad..topic", "x"}},
		{[]string{"sub", "--server", srv.URL, "bad..topic"}},
	} {
		r := runCLI(t, tc.args...)
		if r.code != 1 {
			t.Fatalf("%s: exit %d, want 1 (stderr %q)", tc.args[0], r.code, r.stderr)
		}
		oneErrorLine(t, r)
		if !strings.Contains(r.stderr, ` to "bad..topic": invalid `) || !strings.Contains(r.stderr, "empty token") {
			t.Errorf("%s: stderr %q does not give the reason", tc.args[0], r.stderr)
		}
	}
}

// closedURL returns a tcp:// URL where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "tcp://" + addr
}

func TestServerListAndEnv(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	dead := closedURL(t)

	t.Run("fallback", func(t *testing.T) {
		mustOK(t, runCLI(t, "pub", "--server", dead+","+srv.URL, "--ack", "a.b", "x"), "pub through the list")
	})
	t.Run("env default", func(t *testing.T) {
		t.Setenv("MSGTRANS_URL", srv.URL)
		mustOK(t, runCLI(t, "pub", "--ack", "a.b", "x"), "pub with MSGTRANS_URL")
	})
	t.Run("flag beats env", func(t *testing.T) {
		t.Setenv("MSGTRANS_URL", dead)
		mustOK(t, runCLI(t, "pub", "--server", srv.URL, "a.b", "x"), "pub with --server")
	})
	t.Run("connect timeout", func(t *testing.T) {
		// A server that accepts connections and never answers the handshake.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		start := time.Now()
		r := runCLI(t, "pub", "--server", "tcp://"+l.Addr().String(), "--connect-timeout", "200ms", "a.b", "x")
		if r.code != 1 || time.Since(start) > 3*time.Second {
			t.Fatalf("exit %d after %v, want 1 after about 200ms (stderr %q)", r.code, time.Since(start), r.stderr)
		}
		oneErrorLine(t, r)
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Setenv("MSGTRANS_URL", dead)
		r := runCLI(t, "pub", "a.b", "x")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1 (stderr %q)", r.code, r.stderr)
		}
		oneErrorLine(t, r)
		if !strings.HasPrefix(r.stderr, "msgtrans: cannot connect: "+dead+": ") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
}

func TestWebSocketAndQUIC(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	wait, _ := runAsync(t, "sub", "--server", srv.WSURL, "--count", "1", "--raw", "t.x")
	waitSubs(t, srv, 1)
	mustOK(t, runCLI(t, "pub", "--server", srv.QUICURL, "--pin", srv.CertSHA256, "--ack", "t.x", "over quic"), "pub over quic")
	r := wait()
	mustOK(t, r, "sub over ws")
	if r.stdout != "over quic\n" {
		t.Errorf("sub over ws printed %q", r.stdout)
	}

	// The generated certificate is not trusted without the pin.
	r = runCLI(t, "pub", "--server", srv.QUICURL, "t.x", "x")
	if r.code != 1 {
		t.Fatalf("quic without --pin: exit %d, want 1", r.code)
	}
	oneErrorLine(t, r)
	// A wrong pin is refused too.
	r = runCLI(t, "pub", "--server", srv.QUICURL, "--pin", strings.Repeat("00", 32), "t.x", "x")
	if r.code != 1 || !strings.Contains(r.stderr, "pinned") {
		t.Fatalf("quic with a wrong pin: exit %d, stderr %q", r.code, r.stderr)
	}
	// --insecure accepts it (development only).
	mustOK(t, runCLI(t, "req", "--server", srv.QUICURL, "--insecure", "--timeout", "1s", "t.none", "x").okIfNoResponders(), "quic --insecure")
}

// okIfNoResponders turns the expected "no responders" failure into success:
// it proves the connection and the request worked.
func (r result) okIfNoResponders() result {
	if r.code == 1 && strings.Contains(r.stderr, "no responders") {
		r.code = 0
	}
	return r
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"nope"},
		{"pub"},
		{"pub"},
		{"pub", "a.b", "x", "extra"},
		{"pub", "a.b", "x", "--count", "0"},
		{"pub", "a.b", "x", "--bogus"},
		{"pub", "a.b", "x", "--header", "novalue"},
		{"pub", "a.b", "x", "--server", "foo://127.0.0.1:1"},
		{"pub", "a.b", "x", "--pin", "zz"},
		{"pub", "a.b", "x", "--connect-timeout", "0s"},
		{"pub", "a.b", "x", "--user", "ann"},
		{"pub", "a.b", "x", "--ttl", "1m"},
		{"pub", "a.b", "x", "--retain", "--ttl", "-1s"},
		{"sub"},
		{"sub", "a.b", "--raw", "--json"},
		{"sub", "a.b", "--count", "-1"},
		{"req", "a.b"},
		{"req", "a.b", "x", "--timeout", "0s"},
		{"reply", "a.b"},
		{"bench"},
		{"bench", "--scenario", "nope"},
		{"bench", "--scenario", "pubsub", "--subs", "3"},
		{"bench", "--scenario", "idle", "--msgs", "3"},
		{"bench", "--scenario", "fanout", "--subs", "0"},
		{"bench", "--scenario", "pub", "extra"},
		{"help", "nope"},
	} {
		r := runCLI(t, args...)
		if r.code != 2 {
			t.Errorf("msgtrans %q: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
			continue
		}
		oneErrorLine(t, r)
	}
	if r := runCLI(t); r.code != 2 || !strings.Contains(r.stderr, "Commands:") {
		t.Errorf("no arguments: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "Commands:"},
		{[]string{"--help"}, "Commands:"},
		{[]string{"help", "bench"}, "sub-only"},
		{[]string{"pub", "-h"}, "Usage: msgtrans pub <topic> [<data>]"},
		{[]string{"sub", "--help"}, "--queue name"},
		{[]string{"bench", "-h"}, "--broker-pid pid"},
		{[]string{"req", "-h"}, "--insecure"},
		{[]string{"--version"}, "msgtrans "},
		{[]string{"version"}, "msgtrans "},
	} {
		r := runCLI(t, c.args...)
		if r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("msgtrans %q: exit %d, stdout lacks %q", c.args, r.code, c.want)
		}
	}
}

func TestTLSFlags(t *testing.T) {
	dir := t.TempDir()
	cert, _, err := quic.LoadOrCreateCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := adapterstest.Start(t, adapterstest.Config{TCP: tcp.Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}})
	if !strings.HasPrefix(srv.URL, "tls://") {
		t.Fatalf("URL %s", srv.URL)
	}
	ca := filepath.Join(dir, quic.CertFile)
	mustOK(t, runCLI(t, "pub", "--server", srv.URL, "--ca", ca, "--ack", "a.b", "x"), "tls with --ca")
	mustOK(t, runCLI(t, "pub", "--server", srv.URL, "--ca", ca, "--server-name", "localhost", "--ack", "a.b", "x"), "tls with --server-name")
	mustOK(t, runCLI(t, "pub", "--server", srv.URL, "--pin", quic.Fingerprint(cert), "--ack", "a.b", "x"), "tls with --pin")
	mustOK(t, runCLI(t, "pub", "--server", srv.URL, "--insecure", "--ack", "a.b", "x"), "tls with --insecure")
	for _, args := range [][]string{
		{"pub", "--server", srv.URL, "a.b", "x"},                                               // unknown authority
		{"pub", "--server", srv.URL, "--ca", ca, "--server-name", "other.example", "a.b", "x"}, // wrong name
		{"pub", "--server", srv.URL, "--ca", filepath.Join(dir, "missing.pem"), "a.b", "x"},
	} {
		r := runCLI(t, args...)
		if r.code != 1 {
			t.Errorf("msgtrans %q: exit %d, want 1 (stderr %q)", args, r.code, r.stderr)
			continue
		}
		oneErrorLine(t, r)
		t.Logf("%q: %s", args[3:], r.stderr)
	}
}

func TestAuthAndNameFlags(t *testing.T) {
	var mu sync.Mutex
	var names []string
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{
		Authenticator: &broker.StaticAuth{Token: "t0k", Users: map[string]string{"bob": "pw"}},
		OnEvent: func(e broker.Event) {
			if e.Kind == broker.SessionOpened {
				mu.Lock()
				names = append(names, e.Session.Name)
				mu.Unlock()
			}
		},
	}})
	mustOK(t, runCLI(t, "pub", "--server", srv.URL, "--token", "t0k", "--ack", "a.b", "x"), "pub --token")
	mustOK(t, runCLI(t, "pub", "--server", srv.URL, "--user", "bob", "--password", "pw", "--name", "cli-test", "a.b", "x"), "pub --user")
	for _, args := range [][]string{
		{"pub", "--server", srv.URL, "a.b", "x"},
		{"pub", "--server", srv.URL, "--token", "nope", "a.b", "x"},
		{"sub", "--server", srv.URL, "--user", "bob", "--password", "wrong", "a.b"},
	} {
		r := runCLI(t, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "(AUTH)") {
			t.Errorf("msgtrans %q: exit %d, stderr %q; want 1 and AUTH", args, r.code, r.stderr)
			continue
		}
		oneErrorLine(t, r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(names) != 2 || names[0] != "msgtrans-pub" || names[1] != "cli-test" {
		t.Errorf("session names %q, want [msgtrans-pub cli-test]", names)
	}
}

func TestPubRetainedTTL(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	server := "--server=" + srv.URL
	if r := runCLI(t, "pub", server, "--retain", "--ttl", "100ms", "--ack", "cfg.short", "gone soon"); r.code != 0 {
		t.Fatalf("pub: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, "pub", server, "--retain", "--ack", "cfg.long", "stays"); r.code != 0 {
		t.Fatalf("pub: %d %s", r.code, r.stderr)
	}
	time.Sleep(300 * time.Millisecond)
	// Everything retained arrives at once; after half a second, stop.
	wait, cancel := runAsync(t, "sub", server, "--raw", "cfg.>")
	time.Sleep(500 * time.Millisecond)
	cancel()
	if r := wait(); r.stdout != "stays\n" {
		t.Fatalf("sub after the TTL printed %q (stderr %s)", r.stdout, r.stderr)
	}
}
