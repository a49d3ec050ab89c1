package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

var brokerBin string

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
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a broker process under test.
type proc struct {
	cmd  *exec.Cmd
	addr string      // from the "listening" log line
	logs chan string // every log line
	exit chan error  // the process's exit
	tail *strings.Builder
}

func startBroker(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(brokerBin, append([]string{"--log-format", "json", "--tcp", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: make(chan string, 1024), exit: make(chan error, 1), tail: &strings.Builder{}}
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

// waitLog returns the first log line containing all of want.
func (p *proc) waitLog(t *testing.T, want ...string) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-p.logs:
			if !ok {
				t.Fatalf("broker exited before logging %q; last lines:\n%s", want, p.tail)
			}
			p.tail.WriteString(line + "\n")
			match := true
			for _, w := range want {
				match = match && strings.Contains(line, w)
			}
			if match {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("log line is not JSON: %q", line)
				}
				return m
			}
		case <-timeout:
			t.Fatalf("no log line with %q; got:\n%s", want, p.tail)
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

func TestListenFailureIsReported(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir(), "--tcp", "127.0.0.1:99999")
	line := p.waitLog(t, "start failed")
	if !strings.Contains(fmt.Sprint(line["error"]), "99999") {
		t.Fatalf("error: %v", line["error"])
	}
}

var _ = io.Discard
