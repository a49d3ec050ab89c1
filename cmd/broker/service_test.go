package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

var brokerBin, pluginBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "msgtrans-broker-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	brokerBin = filepath.Join(dir, "broker")
	args := []string{"build", "-o", brokerBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the broker: %v\n%s", err, out)
		os.Exit(1)
	}
	pluginBin = filepath.Join(dir, "example-plugin")
	if out, err := exec.Command("go", "build", "-o", pluginBin, "../example-plugin").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the example plugin: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a broker process under test.
type proc struct {
	cmd  *exec.Cmd
	logs chan string // every log line
	exit chan error  // the process's exit
	seen []string    // log lines read so far
}

func startBroker(t *testing.T, args ...string) *proc {
	t.Helper()
	return startBrokerUnder(t, nil, args...)
}

// startBrokerUnder starts the broker through the command wrap (such as
// prlimit with its options), or directly when wrap is empty.
func startBrokerUnder(t *testing.T, wrap []string, args ...string) *proc {
	t.Helper()
	base := []string{"--log-format", "json", "--tcp", "127.0.0.1:0", "--ws", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}
	argv := append(append(append([]string(nil), wrap...), brokerBin), append(base, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: make(chan string, 1024), exit: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case p.logs <- sc.Text():
			default:
			}
		}
		close(p.logs)
		p.exit <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exit
	})
	return p
}

// waitLog returns the first log line, seen before or arriving within 10s,
// that contains all of want.
func (p *proc) waitLog(t *testing.T, want ...string) map[string]any {
	t.Helper()
	return p.waitLogFrom(t, 0, want...)
}

// waitLogFrom is waitLog ignoring the first from lines seen.
func (p *proc) waitLogFrom(t *testing.T, from int, want ...string) map[string]any {
	t.Helper()
	matches := func(line string) map[string]any {
		for _, w := range want {
			if !strings.Contains(line, w) {
				return nil
			}
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		return m
	}
	for _, line := range p.seen[from:] {
		if m := matches(line); m != nil {
			return m
		}
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-p.logs:
			if !ok {
				t.Fatalf("broker exited before logging %q; its log:\n%s", want, strings.Join(p.seen, "\n"))
			}
			p.seen = append(p.seen, line)
			if m := matches(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no log line with %q; got:\n%s", want, strings.Join(p.seen, "\n"))
		}
	}
}

func (p *proc) waitExit(t *testing.T) error {
	t.Helper()
	go func() {
		for line := range p.logs {
			_ = line
		}
	}()
	select {
	case err := <-p.exit:
		p.exit <- err // for the cleanup
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("broker did not exit")
		return nil
	}
}

func TestServiceServesAndDrainsOnSIGTERM(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir())
	listen := p.waitLog(t, "listening for tcp://")
	url := "tcp://" + listen["addr"].(string)

	sub, err := sdk.Connect(url, sdk.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	s, _ := sub.SubscribeSync("svc.>")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sub.Flush(ctx)
	pub, err := sdk.Connect(url, sdk.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.PublishAck(ctx, &sdk.Msg{Topic: "svc.hello", Data: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.NextMsg(ctx); err != nil || string(m.Data) != "hi" {
		t.Fatalf("got %v %v", m, err)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.waitExit(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !sub.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var se *sdk.ServerError
	if err := sub.LastError(); !errors.As(err, &se) || se.Code != wire.CodeShutdown {
		t.Fatalf("client saw %v, want a SHUTDOWN error", err)
	}
}

func TestSecondBrokerOnSameDataDirFails(t *testing.T) {
	dir := t.TempDir()
	first := startBroker(t, "--data-dir", dir)
	first.waitLog(t, "listening for tcp://")
	second := startBroker(t, "--data-dir", dir)
	line := second.waitLog(t, "start failed")
	if !strings.Contains(fmt.Sprint(line["error"]), "in use by another broker") {
		t.Fatalf("error: %v", line["error"])
	}
	var ee *exec.ExitError
	if err := second.waitExit(t); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
}

func TestBadConfigFailsAtStart(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("limits:\n  max_payloads: 5\n"), 0o600)
	out, err := exec.Command(brokerBin, "--config", cfg).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "max_payloads") {
		t.Fatalf("exit %v, output %q", err, out)
	}
}

func TestVersionFlag(t *testing.T) {
	out, err := exec.Command(brokerBin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "msgtrans broker ") {
		t.Fatalf("%q %v", out, err)
	}
}

// --help prints the usage and exits 0, without the flag package's
// "help requested" error (issue 16).
func TestHelpFlag(t *testing.T) {
	out, err := exec.Command(brokerBin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-data-dir") || strings.Contains(string(out), "help requested") {
		t.Fatalf("%q %v", out, err)
	}
}

func TestListenFailureIsReported(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir(), "--tcp", "127.0.0.1:99999")
	line := p.waitLog(t, "start failed")
	if !strings.Contains(fmt.Sprint(line["error"]), "99999") {
		t.Fatalf("error: %v", line["error"])
	}
}

func TestServiceListensOnAllTransports(t *testing.T) {
	dir := t.TempDir()
	var fingerprint string
	for run := range 2 {
		p := startBroker(t, "--data-dir", dir, "--ws-path", "/msgtrans")
		cert := p.waitLog(t, "self-signed QUIC certificate")
		fp := cert["sha256"].(string)
		if run == 0 {
			fingerprint = fp
			if !strings.Contains(cert["message"].(string), "generated") {
				t.Fatalf("first start: %v", cert["message"])
			}
		} else if fp != fingerprint {
			t.Fatalf("certificate changed across restarts: %s then %s", fingerprint, fp)
		}
		urls := map[string]string{}
		for _, scheme := range []string{"tcp", "ws", "quic"} {
			line := p.waitLog(t, "listening for "+scheme+"://")
			urls[scheme] = scheme + "://" + line["addr"].(string)
		}
		urls["ws"] += "/msgtrans"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for scheme, url := range urls {
			c, err := sdk.Connect(url, sdk.PinnedCertSHA256(fp), sdk.MaxReconnects(0))
			if err != nil {
				t.Fatalf("%s: %v", scheme, err)
			}
			if err := c.Flush(ctx); err != nil {
				t.Fatalf("%s flush: %v", scheme, err)
			}
			c.Close()
		}
		cancel()
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.waitExit(t); err != nil {
			t.Fatalf("exit: %v", err)
		}
	}
}

func pluginConfig(t *testing.T, extra string) string {
	t.Helper()
	return textConfig(t, "path: "+pluginBin, extra)
}

// textConfig writes a configuration running the text protocol as plugin
// "text"; source says where it comes from (path: or builtin:), extra adds
// keys to the plugin's entry.
func textConfig(t *testing.T, source, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "broker.yaml")
	body := "plugins:\n  - name: text\n    " + source + "\n    settings:\n      listen: 127.0.0.1:0\n" + extra
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// textSources are the two ways the broker runs the text protocol.
func textSources() map[string]string {
	return map[string]string{"process": "path: " + pluginBin, "builtin": "builtin: text"}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z")
}

func TestPluginExitsWhenBrokerIsKilled(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", pluginConfig(t, ""))
	started := p.waitLog(t, "plugin started", `"plugin":"text"`)
	pid := int(started["pid"].(float64))
	if !alive(pid) {
		t.Fatalf("plugin pid %d not running", pid)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(t)
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin %d still running 5s after the broker was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPluginStopsWithBroker(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", pluginConfig(t, ""))
	started := p.waitLog(t, "plugin started", `"plugin":"text"`)
	pid := int(started["pid"].(float64))
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.waitExit(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal("plugin left running after a clean stop")
	}
}

func TestMissingPluginBinary(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "broker.yaml")
	os.WriteFile(cfg, []byte("plugins:\n  - name: gone\n    path: /nonexistent/plugin\n"), 0o600)
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", cfg)
	line := p.waitLog(t, "start failed")
	if msg := fmt.Sprint(line["error"]); !strings.Contains(msg, "plugin gone") || !strings.Contains(msg, "no such file") {
		t.Fatalf("error: %s", msg)
	}
	var ee *exec.ExitError
	if err := p.waitExit(t); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}

	// Optional: the broker starts without it and says why.
	os.WriteFile(cfg, []byte("plugins:\n  - name: gone\n    path: /nonexistent/plugin\n    optional: true\n"), 0o600)
	p = startBroker(t, "--data-dir", t.TempDir(), "--config", cfg)
	p.waitLog(t, "optional plugin failed to start", "no such file")
	p.waitLog(t, "listening for tcp://")
}
