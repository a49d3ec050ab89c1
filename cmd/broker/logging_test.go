package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/internal/testproc"
)

// Durations are logged as durations ("10s"), not as a bare number of
// milliseconds that reads as a count.
func TestLogsDurationsWithUnits(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir())
	p.waitLog(t, "listening for tcp://")
	p.cmd.Process.Signal(syscall.SIGTERM)
	m := p.waitLog(t, "draining")
	if m["deadline"] != "10s" {
		t.Fatalf("deadline logged as %#v, want \"10s\"", m["deadline"])
	}
}

// --log-format console writes no colour escapes when the log is not a
// terminal (a file, a pipe, the journal), and does on a terminal: the
// broker runs under script(1), which gives it a pseudo-terminal.
func TestConsoleColoursOnlyOnATerminal(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir(), "--log-format", "console")
	var lines []string
	deadline := time.After(10 * time.Second)
	for !strings.Contains(strings.Join(lines, "\n"), "listening for tcp://") {
		select {
		case l, ok := <-p.logs:
			if !ok {
				t.Fatalf("broker exited; log:\n%s", strings.Join(lines, "\n"))
			}
			lines = append(lines, l)
		case <-deadline:
			t.Fatalf("no listening line; log:\n%s", strings.Join(lines, "\n"))
		}
	}
	if out := strings.Join(lines, "\n"); strings.Contains(out, "\x1b[") {
		t.Fatalf("colour escapes in a log that is not a terminal:\n%q", out)
	}

	script := testproc.Need(t, "script")
	dataDir := t.TempDir()
	cmd := "exec " + brokerBin + " --log-format console --data-dir " + dataDir +
		" --tcp 127.0.0.1:0 --ws '' --quic '' --http '' --mqtt '' --config /dev/null"
	tty := testproc.StartCmd(t, exec.Command(script, "-qfec", cmd, "/dev/null"))
	// script runs the broker in a session of its own, which killing
	// script's process group does not reach (and the SIGHUP it gets when
	// the terminal goes is a reload): stop it by the pid it wrote in its
	// data directory's lock file.
	t.Cleanup(func() { killByLockFile(t, dataDir) })
	line, _ := tty.WaitLine(0, 10*time.Second, "listening for tcp://")
	if !strings.Contains(line, "\x1b[") {
		t.Fatalf("no colour on a terminal: %q", line)
	}
}

// killByLockFile kills the broker whose pid is in dataDir's broker.lock.
func killByLockFile(t *testing.T, dataDir string) {
	b, err := os.ReadFile(filepath.Join(dataDir, "broker.lock"))
	if err != nil {
		return // it never got that far
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Errorf("broker.lock holds %q, not a pid", b)
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
}
