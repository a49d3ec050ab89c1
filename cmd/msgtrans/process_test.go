package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/internal/testproc"
)

// procResult is what one run of the real msgtrans binary produced.
type procResult struct {
	code           int
	stdout, stderr string
}

// cliProcs holds the binaries and the broker the process tests share.
type cliProcs struct {
	cli      string
	broker   string
	tcp, ws  string // addresses of the running broker
	quic     string
	http     string // the broker's monitoring endpoint
	tlsAddr  string // a second broker: TCP with TLS only
	dataDir  string
	maxBytes int
}

// startCLIProcs builds msgtrans and the broker and starts a broker on
// TCP, WebSocket and QUIC whose default permissions deny publishing to
// secret.>, and a second one that serves TCP with TLS.
func startCLIProcs(t *testing.T) *cliProcs {
	p := &cliProcs{cli: testproc.Build(t, "../msgtrans"), broker: testproc.Build(t, "../broker"), maxBytes: 512 << 10}
	p.tcp, p.ws, p.quic, p.http = testproc.FreePort(t), testproc.FreePort(t), testproc.FreePort(t), testproc.FreePort(t)
	dir := t.TempDir()
	p.dataDir = filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "broker.yaml")
	os.WriteFile(cfg, []byte("auth:\n  default_permissions:\n    publish: {deny: [\"secret.>\"]}\nlimits:\n  max_payload: 512KiB\nretained:\n  store: memory\n  max_messages: 2\n"), 0o600)
	b := testproc.Start(t, p.broker, "--config", cfg, "--log-format", "json", "--http", p.http, "--mqtt", "",
		"--tcp", p.tcp, "--ws", p.ws, "--quic", p.quic, "--data-dir", p.dataDir)
	b.WaitLine(0, 20*time.Second, "listening for quic://")
	b.WaitTCP(p.tcp, 10*time.Second)

	cert, key := selfSigned(t, dir)
	p.tlsAddr = testproc.FreePort(t)
	tlsCfg := filepath.Join(dir, "tls.yaml")
	os.WriteFile(tlsCfg, []byte("tcp:\n  tls:\n    cert_file: "+cert+"\n    key_file: "+key+"\nretained:\n  store: memory\n"), 0o600)
	tb := testproc.Start(t, p.broker, "--config", tlsCfg, "--log-format", "json", "--http", "", "--mqtt", "",
		"--tcp", p.tlsAddr, "--ws", "", "--quic", "", "--data-dir", filepath.Join(dir, "tlsdata"))
	tb.WaitTCP(p.tlsAddr, 20*time.Second)
	return p
}

// run runs msgtrans with args and stdin, bounded in time.
func (p *cliProcs) run(t *testing.T, stdin []byte, args ...string) procResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.cli, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("msgtrans %.200s did not end within 30s", strings.Join(args, " "))
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return procResult{code, out.String(), errb.String()}
}

// failsWith checks a run that must fail at run time with one error line
// holding every string of want.
func failsWith(t *testing.T, r procResult, want ...string) {
	t.Helper()
	if r.code != exitRuntime {
		t.Fatalf("exit %d, want %d; stderr %q", r.code, exitRuntime, r.stderr)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "msgtrans: ") {
		t.Fatalf("stderr is not one error line: %q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Fatalf("stderr %q does not say %q", r.stderr, w)
		}
	}
}

func TestCLIProcesses(t *testing.T) {
	p := startCLIProcs(t)
	srv := "tcp://" + p.tcp

	t.Run("pub refused by the broker always fails", func(t *testing.T) {
		// The permission is only known to the broker: the command must wait
		// for its answer. Before, most runs exited 0 before it arrived.
		for range 10 {
			failsWith(t, p.run(t, nil, "pub", "--server", srv, "secret.x", "hi"), "PERMISSION_DENIED", `"secret.x"`)
		}
		for range 3 {
			failsWith(t, p.run(t, nil, "pub", "--server", srv, "--count", "5", "secret.y", "hi {{i}}"), "publish 1 of 5", "PERMISSION_DENIED")
		}
	})

	t.Run("a retained publish refused for the store limit fails and is not delivered", func(t *testing.T) {
		sub := testproc.Start(t, p.cli, "sub", "--server", srv, "--raw", "cfg.>")
		waitSubscribed(t, p, "cfg.x", 1)
		for _, topic := range []string{"cfg.a", "cfg.b"} {
			if r := p.run(t, nil, "pub", "--server", srv, "--retain", topic, "kept "+topic); r.code != 0 {
				t.Fatalf("%s: %s", topic, r.stderr)
			}
		}
		failsWith(t, p.run(t, nil, "pub", "--server", srv, "--retain", "cfg.c", "refused"), "RETAINED_LIMIT")
		if r := p.run(t, nil, "pub", "--server", srv, "cfg.marker", "after"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		sub.WaitLine(0, 20*time.Second, "after")
		for _, l := range sub.Lines() {
			if l == "refused" {
				t.Fatal("the refused retained publish was delivered live")
			}
		}
	})

	t.Run("pub to an invalid or wildcard topic fails", func(t *testing.T) {
		failsWith(t, p.run(t, nil, "pub", "--server", srv, "a.*", "hi"), `publish to "a.*": invalid topic: wildcard`)
		failsWith(t, p.run(t, nil, "pub", "--server", srv, "a..b", "hi"), "invalid topic: empty token")
		failsWith(t, p.run(t, nil, "pub", "--server", srv, "a b", "hi"), "invalid topic: invalid character")
	})

	t.Run("req to an invalid topic fails at once", func(t *testing.T) {
		// With --timeout 1h, waiting for a reply would hit run's 30 s bound.
		failsWith(t, p.run(t, nil, "req", "--server", srv, "--timeout", "1h", "svc.>", "x"), `request on "svc.>": invalid topic: wildcard`)
	})

	t.Run("long values are cut in error lines", func(t *testing.T) {
		long := strings.Repeat("t", 70000) + ".*"
		for _, args := range [][]string{
			{"pub", "--server", srv, long, "x"},
			{"req", "--server", srv, long, "x"},
			{"sub", "--server", srv, long + ".>"},
			{"pub", "--server", srv, "secret." + strings.Repeat("s", 60000), "x"},
		} {
			r := p.run(t, nil, args...)
			failsWith(t, r, "bytes)")
			if len(r.stderr) > 600 {
				t.Fatalf("error line of %d bytes: %.200q...", len(r.stderr), r.stderr)
			}
		}
	})

	t.Run("pub reads stdin and --file, binary-safe, up to max payload", func(t *testing.T) {
		payload := make([]byte, 300<<10)
		rand.Read(payload)
		copy(payload, "\x00\n\r\x1b[2J")
		file := filepath.Join(t.TempDir(), "blob.bin")
		os.WriteFile(file, payload, 0o600)
		for _, how := range []struct {
			name  string
			stdin []byte
			args  []string
		}{
			{"stdin", payload, nil},
			{"file", nil, []string{"--file", file}},
			{"file -", payload, []string{"--file", "-"}},
		} {
			sub := testproc.Start(t, p.cli, "sub", "--server", srv, "--json", "--count", "1", "blob."+strings.ReplaceAll(how.name, " ", "_"))
			waitSubscribed(t, p, "blob."+strings.ReplaceAll(how.name, " ", "_"), 1)
			r := p.run(t, how.stdin, append([]string{"pub", "--server", srv, "blob." + strings.ReplaceAll(how.name, " ", "_")}, how.args...)...)
			if r.code != 0 {
				t.Fatalf("%s: exit %d: %s", how.name, r.code, r.stderr)
			}
			line, _ := sub.WaitLine(0, 20*time.Second, `"topic":"blob.`)
			var m jsonMsg
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatal(err)
			}
			got, err := base64.StdEncoding.DecodeString(m.Data)
			if err != nil || m.Encoding != "base64" || !bytes.Equal(got, payload) {
				t.Fatalf("%s: received %d bytes (encoding %s), sent %d", how.name, len(got), m.Encoding, len(payload))
			}
		}
		tooBig := make([]byte, p.maxBytes+1)
		failsWith(t, p.run(t, tooBig, "pub", "--server", srv, "blob.big"), "over the broker's max payload of 524288 bytes")
		failsWith(t, p.run(t, nil, "pub", "--server", "tcp://"+testproc.FreePort(t), "--file", file+".missing", "blob.x"), "--file: open ", "no such file")
		r := p.run(t, nil, "pub", "--server", srv, "--file", file, "blob.x", "data")
		if r.code != exitUsage {
			t.Fatalf("--file with a data argument: exit %d, %s", r.code, r.stderr)
		}
	})

	t.Run("sub escapes control characters unless --raw", func(t *testing.T) {
		text := testproc.Start(t, p.cli, "sub", "--server", srv, "--count", "1", "esc.text")
		raw := testproc.Start(t, p.cli, "sub", "--server", srv, "--count", "1", "--raw", "esc.text")
		waitSubscribed(t, p, "esc.text", 2)
		r := p.run(t, nil, "pub", "--server", srv, "--header", "k=v\x07", "esc.text", "one\ntwo\x1b[31mred\tend\u0085")
		if r.code != 0 {
			t.Fatal(r.stderr)
		}
		text.WaitLine(0, 20*time.Second, `[#1] esc.text k=v\x07: one\ntwo\x1b[31mred\tend\u0085`)
		raw.WaitLine(0, 20*time.Second, "two\x1b[31mred\tend\u0085")
		raw.WaitLine(0, 20*time.Second, "one")
	})

	t.Run("connection errors name the likely cause", func(t *testing.T) {
		nothing := testproc.FreePort(t)
		for _, c := range []struct{ url, want string }{
			{"tcp://" + nothing, "nothing is listening on " + nothing},
			{"tcp://" + p.ws, "did not answer within --connect-timeout: probably not the broker's tcp port"},
			{"ws://" + p.tcp + "/ws", "is not an HTTP/WebSocket server"},
			{"tls://" + p.tcp, "does not speak TLS: use tcp://"},
			{"tcp://" + p.tlsAddr, "closed the connection without answering: it probably expects another transport (TLS: tls://"},
			{"tls://" + p.tlsAddr, "pass --ca"},
			{"quic://" + p.quic, "pass --pin with the sha256 it logs"},
			{"ws://" + p.ws + "/nope", "no WebSocket endpoint at /nope"},
			{p.tcp, ""}, // a bare host:port is tcp:// and works
		} {
			r := p.run(t, nil, "pub", "--server", c.url, "--connect-timeout", "1s", "ok.topic", "x")
			if c.want == "" {
				if r.code != 0 {
					t.Fatalf("%s: %s", c.url, r.stderr)
				}
				continue
			}
			failsWith(t, r, "cannot connect: ", c.want)
		}
	})

	t.Run("bench prints partial results on Ctrl-C", func(t *testing.T) {
		watch := testproc.Start(t, p.cli, "sub", "--server", srv, "--count", "1", "--raw", "bench.ctrlc")
		waitSubscribed(t, p, "bench.ctrlc", 1)
		bench := exec.Command(p.cli, "bench", "--server", srv, "--scenario", "pubsub", "--duration", "10m", "--topic", "bench.ctrlc")
		var out, errb bytes.Buffer
		bench.Stdout, bench.Stderr = &out, &errb
		if err := bench.Start(); err != nil {
			t.Fatal(err)
		}
		defer bench.Process.Kill()
		watch.WaitLine(0, 20*time.Second, "abcd") // publishing is under way
		syscall.Kill(bench.Process.Pid, syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- bench.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("bench did not end after SIGINT")
		}
		if bench.ProcessState.ExitCode() != exitRuntime || !strings.Contains(errb.String(), "interrupted: the results above are partial") {
			t.Fatalf("exit %d, stderr %q", bench.ProcessState.ExitCode(), errb.String())
		}
		for _, w := range []string{"pubsub", "pub ", "sub ", "INTERRUPTED: partial results"} {
			if !strings.Contains(out.String(), w) {
				t.Fatalf("stdout lacks %q:\n%s", w, out.String())
			}
		}

		// idle, interrupted while holding its connections, measures them.
		select { // the watcher is done (--count 1): it no longer counts
		case <-watch.Done():
		case <-time.After(20 * time.Second):
			t.Fatal("the watching sub did not exit after its message")
		}
		base := waitConns(t, p, 0)
		idle := exec.Command(p.cli, "bench", "--server", srv, "--scenario", "idle", "--conns", "20", "--hold", "10m", "--json")
		out.Reset()
		errb.Reset()
		idle.Stdout, idle.Stderr = &out, &errb
		if err := idle.Start(); err != nil {
			t.Fatal(err)
		}
		defer idle.Process.Kill()
		waitConns(t, p, base+20)
		syscall.Kill(idle.Process.Pid, syscall.SIGINT)
		go func() { done <- idle.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("bench idle did not end after SIGINT")
		}
		var res struct {
			Interrupted bool `json:"interrupted"`
			Idle        struct {
				Conns int `json:"conns"`
			} `json:"idle"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || !res.Interrupted || res.Idle.Conns != 20 {
			t.Fatalf("idle after SIGINT: %v %+v; stdout %q stderr %q", err, res, out.String(), errb.String())
		}
	})
}

// waitSubscribed waits until the broker would deliver a message on topic
// n times: the subscriber processes have subscribed. It asks the broker's
// monitoring endpoint, the one way to see into another process.
func waitSubscribed(t *testing.T, p *cliProcs, topic string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var sz struct {
			Test struct {
				Deliveries int `json:"deliveries"`
			} `json:"test"`
		}
		resp, err := http.Get("http://" + p.http + "/subsz?test=" + url.QueryEscape(topic))
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&sz)
			resp.Body.Close()
		}
		if err == nil && sz.Test.Deliveries >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers of %s, want %d (%v)", sz.Test.Deliveries, topic, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitConns waits until the broker has at least n connections, read from
// its monitoring endpoint, and returns how many it has.
func waitConns(t *testing.T, p *cliProcs, n int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var vz struct {
			Connections int `json:"connections"`
		}
		resp, err := http.Get("http://" + p.http + "/varz")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&vz)
			resp.Body.Close()
		}
		if err == nil && vz.Connections >= n {
			return vz.Connections
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d (%v)", vz.Connections, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "msgtrans test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}
