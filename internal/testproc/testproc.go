// Package testproc starts the real programs that tests talk to: the broker
// binary, redis-server, mosquitto, chromium. Each one runs on a free loopback
// port, its output is kept for the failure message, and it is stopped by its
// process id when the test ends. Written once so that every package's tests
// start and stop third-party servers the same way.
package testproc

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Need returns the path of the program name, or fails the test: a missing
// third-party program is a broken test machine, not a reason to skip.
// `bash .ci/run install` installs every program the tests use.
func Need(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run `bash .ci/run install` (Debian packages the tests need)", name)
	}
	return path
}

// Build compiles the Go package pkg (a path as `go build` takes it,
// relative to the test's directory) into a temporary directory that lives
// as long as the test, and returns the binary's path. extra are further
// build flags, such as -race.
func Build(t testing.TB, pkg string, extra ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	args := append([]string{"build", "-o", bin}, extra...)
	out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// FreePort returns a loopback address with a port that was free a moment
// ago. A program told to listen on it may still lose a race for it; Start's
// WaitTCP turns that into a clear failure rather than a hang.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is a program started by Start.
type Proc struct {
	Cmd  *exec.Cmd
	t    testing.TB
	mu   sync.Mutex
	out  []string      // every line of stdout and stderr, in arrival order
	more chan struct{} // closed and replaced when a line arrives
	done chan struct{} // closed when the process has exited
	err  error         // the process's exit, once done is closed
}

// Start runs bin with args and stops it (SIGKILL, by process id) when the
// test ends. Its combined output is kept for Lines and WaitLine, and is
// printed if the test fails.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return StartCmd(t, exec.Command(bin, args...))
}

// StartCmd is Start for a prepared command (its Dir or Env set). Stdout and
// Stderr must be unset.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	// Its own process group: a kill reaches children it starts (chromium's
	// helpers), and a Ctrl-C of `go test` does not race our cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	p := &Proc{Cmd: cmd, t: t, more: make(chan struct{}), done: make(chan struct{})}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		// Lines as long as a program prints them: a CLI printing a 1 MiB
		// payload in base64 writes one line of 1.4 MB.
		sc.Buffer(make([]byte, 64*1024), 64<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		// Wait has seen every byte read from the pipe, but the scanner
		// may still be splitting the last of them into lines: done
		// means every line is in p.out (a 400 KB line under -race was
		// not, and WaitLine said the process exited without it).
		<-scanned
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", filepath.Base(cmd.Path), cmd.Process.Pid, strings.Join(p.Lines(), "\n"))
		}
	})
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Lines returns the output lines so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.out...)
}

// WaitLine waits up to timeout for an output line, from the index from on,
// that contains every string of want, and returns it with its index. It
// fails the test if the process exits or the time runs out first.
func (p *Proc) WaitLine(from int, timeout time.Duration, want ...string) (string, int) {
	p.t.Helper()
	deadline := time.After(timeout)
	for i := from; ; {
		p.mu.Lock()
		lines, more := p.out, p.more
		p.mu.Unlock()
		for ; i < len(lines); i++ {
			if containsAll(lines[i], want) {
				return lines[i], i
			}
		}
		select {
		case <-more:
		case <-p.done:
			p.mu.Lock()
			n := len(p.out)
			p.mu.Unlock()
			if i < n {
				continue // lines that arrived with the exit
			}
			p.t.Fatalf("%s exited (%v) before printing %q", filepath.Base(p.Cmd.Path), p.Err(), want)
		case <-deadline:
			p.t.Fatalf("%s printed no line with %q within %v", filepath.Base(p.Cmd.Path), want, timeout)
		}
	}
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit status, once Done is closed.
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Kill sends SIGKILL to the process group and waits for the exit.
func (p *Proc) Kill() {
	syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout for the exit; then SIGKILL.
// It returns the exit status.
func (p *Proc) Stop(timeout time.Duration) error {
	syscall.Kill(p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Logf("%s did not stop within %v after SIGTERM; killing it", filepath.Base(p.Cmd.Path), timeout)
		p.Kill()
	}
	return p.Err()
}

// WaitTCP waits until addr accepts a TCP connection, failing the test after
// timeout or if the process exits first.
func (p *Proc) WaitTCP(addr string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("%s exited (%v) before listening on %s:\n%s", filepath.Base(p.Cmd.Path), p.Err(), addr, strings.Join(p.Lines(), "\n"))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s is not listening on %s after %v: %v", filepath.Base(p.Cmd.Path), addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// String names the process for messages.
func (p *Proc) String() string {
	return fmt.Sprintf("%s[%d]", filepath.Base(p.Cmd.Path), p.Pid())
}
