package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/internal/testproc"
)

// The README's Go example works from a checkout by following the README:
// the program is copied from it, the shell steps under it are run as they
// are written, and the program talks to a real broker. Two things differ
// from a user's machine, both forced by this test machine: the broker
// listens on a free port rather than 8001 (the program's URL is changed to
// it), and there is no network, so the checkout's go.sum is copied and the
// module proxy and checksum database are off (every module is in the cache).
func TestReadmeGoExampleFromACheckout(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(readme), "## Use it from Go")
	if !ok {
		t.Fatal("README.md has no \"Use it from Go\" section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	_, program, _ := strings.Cut(sec, "```go\n")
	program, _, _ = strings.Cut(program, "```")
	_, steps, ok := strings.Cut(sec, "```sh\n")
	if !ok {
		t.Fatal("the Go section of README.md gives no steps to use the module from a checkout")
	}
	steps, _, _ = strings.Cut(steps, "```")

	checkout, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	addr := testproc.FreePort(t)
	broker := testproc.Build(t, "../broker")
	b := testproc.Start(t, broker, "--tcp", addr, "--ws", "", "--quic", "", "--http", "", "--mqtt", "", "--data-dir", t.TempDir())
	b.WaitTCP(addr, 20*time.Second)

	dir := filepath.Join(t.TempDir(), "hello")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(strings.Replace(program, "tcp://127.0.0.1:8001", "tcp://"+addr, 1)), 0o644)
	sum, _ := os.ReadFile("../../go.sum")
	os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644)
	var out []byte
	for line := range strings.SplitSeq(strings.TrimSpace(steps), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.ReplaceAll(line, "../msgtrans", checkout)
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOSUMDB=off", "GOFLAGS=")
		if out, err = cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
	}
	if got := strings.TrimSpace(string(out)); got != "hello, world" {
		t.Fatalf("the last step printed %q, want the README's \"hello, world\"", got)
	}
}
