package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/msgtrans/msgtrans/internal/testproc"
)

// unitFile is the systemd unit docs/configuration.md tells users to install.
const unitFile = "../../docs/msgtrans-broker.service"

// unitKey returns the value of key in the unit file (its first occurrence).
func unitKey(t *testing.T, unit, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + key + `=(.*)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatalf("%s has no %s=", unitFile, key)
	}
	return strings.TrimSpace(m[1])
}

// serviceSteps returns the shell lines of the "Running as a service" code
// block of docs/configuration.md.
func serviceSteps(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(doc), "## Running as a service")
	if !ok {
		t.Fatal("docs/configuration.md has no \"Running as a service\" section")
	}
	_, block, _ := strings.Cut(sec, "```\n")
	block, _, _ = strings.Cut(block, "```")
	return strings.Split(strings.TrimSpace(block), "\n")
}

// The steps in docs/configuration.md create everything the unit names:
// the binary it runs, the user it runs as, the configuration file it
// reads, and the unit itself.
func TestServiceStepsCreateWhatTheUnitNames(t *testing.T) {
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	argv := strings.Fields(unitKey(t, unit, "ExecStart"))
	config := argAfter(t, argv, "--config")
	steps := strings.Join(serviceSteps(t), "\n")
	for _, want := range []string{
		"go build -o msgtrans-broker ./cmd/broker",
		"install -m 0755 msgtrans-broker " + argv[0],
		"useradd --system --no-create-home --shell /usr/sbin/nologin " + unitKey(t, unit, "User"),
		"install -d -m 0750 -o root -g " + unitKey(t, unit, "Group") + " " + filepath.Dir(config),
		"install -m 0640 -o root -g " + unitKey(t, unit, "Group") + " docs/broker.example.yaml " + config,
		"install -m 0644 docs/msgtrans-broker.service /etc/systemd/system/msgtrans-broker.service",
		"systemctl enable --now msgtrans-broker",
	} {
		if !strings.Contains(steps, want) {
			t.Errorf("the steps in docs/configuration.md do not say %q:\n%s", want, steps)
		}
	}
	if dd := argAfter(t, argv, "--data-dir"); dd != "/var/lib/"+unitKey(t, unit, "StateDirectory") {
		t.Errorf("--data-dir %s is not the StateDirectory systemd creates", dd)
	}
}

// systemd-analyze verify accepts the unit. verify insists that the
// ExecStart binary exists, and this machine has no
// /usr/local/bin/msgtrans-broker (a test must not install one), so the
// copy checked names the broker binary this test built instead; that is
// the only change, and the test above checks the path against the steps.
func TestServiceUnitVerifies(t *testing.T) {
	analyze := systemdAnalyze(t)
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	argv := strings.Fields(unitKey(t, string(b), "ExecStart"))
	unit := strings.Replace(string(b), "ExecStart="+argv[0], "ExecStart="+brokerBin, 1)
	path := filepath.Join(t.TempDir(), "msgtrans-broker.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check is real: a broken unit is refused.
	bad := strings.Replace(unit, "Type=simple", "Type=simplest", 1)
	os.WriteFile(path, []byte(bad), 0o644)
	if out, _ := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput(); !strings.Contains(string(out), "simplest") {
		t.Fatalf("systemd-analyze verify accepted a bad Type: %s", out)
	}
}

// The unit's command line starts the broker with the example
// configuration the steps install (listen addresses moved to free ports),
// it reloads on SIGHUP as ExecReload does, and stops cleanly on SIGTERM.
func TestServiceUnitCommandLineRuns(t *testing.T) {
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	argv := strings.Fields(unitKey(t, string(b), "ExecStart"))
	if reload := unitKey(t, string(b), "ExecReload"); reload != "kill -HUP $MAINPID" {
		t.Fatalf("ExecReload=%s; this test sends SIGHUP", reload)
	}
	example, err := os.ReadFile("../../docs/broker.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "broker.yaml")
	os.WriteFile(config, example, 0o640)
	args := append([]string(nil), argv[1:]...)
	for i := range args {
		switch args[i] {
		case argAfter(t, argv, "--config"):
			args[i] = config
		case argAfter(t, argv, "--data-dir"):
			args[i] = filepath.Join(dir, "data")
		}
	}
	p := startBroker(t, append(args, "--tcp", "127.0.0.1:0", "--ws", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--http", "127.0.0.1:0")...)
	p.waitLog(t, "listening for tcp://")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, "reload")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.waitExit(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

func argAfter(t *testing.T, argv []string, flag string) string {
	t.Helper()
	for i, a := range argv {
		if a == flag && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	t.Fatalf("ExecStart has no %s", flag)
	return ""
}

// systemdAnalyze returns the path of systemd-analyze (Debian's systemd
// package, which .ci/run installs), or fails the test.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	return testproc.Need(t, "systemd-analyze")
}
