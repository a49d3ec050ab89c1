package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/internal/certs/certstest"
	"github.com/msgtrans/msgtrans/internal/testproc"
)

// mosquitto clients on mqtt.tls with client certificates: verify refuses a
// client without one, or with one from another CA; map_identity logs a
// client in by its certificate alone, as the user it names, whose
// permissions then apply to its MQTT subscriptions and publishes.
func TestMQTTClientCertificates(t *testing.T) {
	sub, pub := testproc.Need(t, "mosquitto_sub"), testproc.Need(t, "mosquitto_pub")
	ca := certstest.NewCA(t, "devices")
	server := ca.Server("broker")
	device := ca.Client("device-7", nil, nil)
	stranger := certstest.NewCA(t, "elsewhere").Client("device-7", nil, nil)

	tlsAddr := testproc.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "broker.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
mqtt:
  tls:
    listen: %s
    cert_file: %s
    key_file: %s
    client_ca_file: %s
    verify: true
    map_identity: true
auth:
  users:
    - user: device-7
      permissions:
        publish: ["dev.device-7.>"]
        subscribe: ["dev.device-7", "dev.device-7.>"] # MQTT's dev/device-7/# is both
`, tlsAddr, server.CertFile, server.KeyFile, ca.File)), 0o600)
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", cfg)
	mqttAddr(t, p)
	host, port, _ := strings.Cut(tlsAddr, ":")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tlsArgs := func(cert certstest.Issued) []string {
		args := []string{"-h", host, "-p", port, "--cafile", ca.File, "-i", "c" + fmt.Sprint(time.Now().UnixNano())}
		if cert.CertFile != "" {
			args = append(args, "--cert", cert.CertFile, "--key", cert.KeyFile)
		}
		return args
	}
	run := func(name string, args ...string) (string, error) {
		b, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		return string(b), err
	}

	// The device's certificate, and no user name or password: it logs in
	// as device-7 and receives what it publishes on its own topics.
	receiveWhilePublishing(t, "dev/device-7/temp 21.5\n<nil>",
		func() (string, error) {
			return run(sub, append(tlsArgs(device), "-t", "dev/device-7/#", "-C", "1", "-W", "20", "-v")...)
		},
		func() (string, error) {
			return run(pub, append(tlsArgs(device), "-t", "dev/device-7/temp", "-m", "21.5")...)
		})

	// Its permissions are device-7's: another device's topics are refused.
	out, err := run(sub, append(tlsArgs(device), "-t", "dev/device-8/#", "-C", "1", "-W", "10")...)
	if !strings.Contains(out, "All subscription requests were denied") {
		t.Fatalf("subscription outside device-7's permissions: %v: %q", err, out)
	}

	// verify: no certificate, or one from a CA the broker does not trust,
	// does not get through the handshake.
	for name, cert := range map[string]certstest.Issued{"no certificate": {}, "another CA's": stranger} {
		out, err := run(pub, append(tlsArgs(cert), "-t", "dev/device-7/temp", "-m", "x")...)
		if err == nil {
			t.Fatalf("mosquitto_pub with %s certificate was accepted: %q", name, out)
		}
	}
}

// cmd/mqtt-plugin as a plugin process checks client certificates against
// its tls_client_ca_file: with tls_verify, mosquitto_pub without one, or
// with another CA's, is refused at the handshake; with one it publishes.
func TestMQTTPluginClientCertificates(t *testing.T) {
	sub, pub := testproc.Need(t, "mosquitto_sub"), testproc.Need(t, "mosquitto_pub")
	bin := testproc.Build(t, "../mqtt-plugin")
	ca := certstest.NewCA(t, "devices")
	server := ca.Server("plugin")
	device := ca.Client("device-7", nil, nil)
	stranger := certstest.NewCA(t, "elsewhere").Client("device-7", nil, nil)
	addr := testproc.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "broker.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
plugins:
  - name: mqttp
    path: %s
    settings:
      listen: ""
      tls_listen: %s
      tls_cert_file: %s
      tls_key_file: %s
      tls_client_ca_file: %s
      tls_verify: "true"
`, bin, addr, server.CertFile, server.KeyFile, ca.File)), 0o600)
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", cfg, "--mqtt", "")
	p.waitLog(t, "plugin started", `"plugin":"mqttp"`, `"status"`)
	host, port, _ := strings.Cut(addr, ":")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := func(cert certstest.Issued, more ...string) []string {
		a := []string{"-h", host, "-p", port, "--cafile", ca.File}
		if cert.CertFile != "" {
			a = append(a, "--cert", cert.CertFile, "--key", cert.KeyFile)
		}
		return append(a, more...)
	}
	run := func(name string, args ...string) (string, error) {
		b, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		return string(b), err
	}
	receiveWhilePublishing(t, "plug/in hello\n<nil>",
		func() (string, error) { return run(sub, args(device, "-t", "plug/#", "-C", "1", "-W", "20", "-v")...) },
		func() (string, error) { return run(pub, args(device, "-t", "plug/in", "-m", "hello")...) })
	for name, cert := range map[string]certstest.Issued{"no certificate": {}, "another CA's": stranger} {
		if out, err := run(pub, args(cert, "-t", "plug/in", "-m", "x")...); err == nil {
			t.Fatalf("mosquitto_pub with %s certificate was accepted: %q", name, out)
		}
	}
}

// receiveWhilePublishing runs subscribe (a mosquitto_sub that exits after
// one message) and publish every 200 ms until subscribe returns (a
// subscription is in place only some time after the process starts), then
// checks its output and error against want.
func receiveWhilePublishing(t *testing.T, want string, subscribe, publish func() (string, error)) {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		out, err := subscribe()
		got <- fmt.Sprintf("%s%v", out, err)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("subscriber: %q, want %q", s, want)
			}
			return
		case <-tick.C:
			if out, err := publish(); err != nil {
				t.Fatalf("publisher: %v: %s", err, out)
			}
		}
	}
}
