package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/sdk"
)

// `msgtrans server reload` reloads the configuration through the
// monitoring endpoint, as SIGHUP does: a user added to the file can log in
// afterwards. It takes the endpoint's credentials; a refused configuration
// is reported with its reason and the old one stays.
func TestReloadOverHTTP(t *testing.T) {
	msgtrans := testproc.Build(t, "../msgtrans")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "broker.yaml")
	write := func(users string) {
		body := "http:\n  user: ops\n  password: opspw\nauth:\n  users:\n" + users
		if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("    - { user: alice, password: pw }\n")
	p := startBroker(t, "--config", cfgPath, "--data-dir", filepath.Join(dir, "data"), "--ws", "", "--quic", "")
	base, url := httpURL(t, p), listenURL(t, p)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(msgtrans, append([]string{"server", "reload", "--url", base}, args...)...).CombinedOutput()
		return string(out), err
	}
	login := func(user string) error {
		nc, err := sdk.Connect(url, sdk.UserInfo(user, "pw"), sdk.MaxReconnects(0))
		if err == nil {
			nc.Close()
		}
		return err
	}
	if err := login("bob"); !errors.Is(err, sdk.ErrAuth) {
		t.Fatalf("bob before the reload: %v", err)
	}

	write("    - { user: alice, password: pw }\n    - { user: bob, password: pw }\n")
	if out, err := run(); err == nil || !strings.Contains(out, "credentials") {
		t.Fatalf("reload without credentials: %v\n%s", err, out)
	}
	if out, err := run("--user", "ops", "--password", "opspw"); err != nil || !strings.Contains(out, "configuration reloaded") {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	p.waitLog(t, "configuration reloaded")
	if err := login("bob"); err != nil {
		t.Fatalf("bob after the reload: %v", err)
	}

	// A key that cannot change at runtime: refused, the old config kept.
	body, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, append(body, []byte("limits:\n  max_connections: 7\n")...), 0o600)
	out, err := run("--user", "ops", "--password", "opspw")
	if err == nil || !strings.Contains(out, "reload refused") || !strings.Contains(out, "limits.max_connections") {
		t.Fatalf("reload of a fixed key: %v\n%s", err, out)
	}
	if err := login("bob"); err != nil {
		t.Fatalf("bob after a refused reload: %v", err)
	}
}
