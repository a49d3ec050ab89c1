package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/monitor"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

func TestHTTPConfigErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"http:\n  listen: nonsense\n", "http.listen"},
		{"http:\n  user: admin\n", "http.user: user and password must be set together"},
		{"http:\n  user: a:b\n  password: x\n", "must not contain ':'"},
		{"http:\n  tls:\n    cert_file: a.pem\n", "http.tls"},
		{"http:\n  listen: \"\"\n  pprof: true\n", "monitoring disabled"},
		{"http:\n  pprof: maybe\n", "(http.pprof)"},
		{"http:\n  port: 80\n", "port"},
	} {
		_, _, err := loadConfig([]string{"--config", writeConfig(t, tc.body)}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error mentioning %q", tc.body, err, tc.want)
		}
	}
	cfg, _, err := loadConfig([]string{"--http", ""}, io.Discard)
	if err != nil || cfg.HTTP.Listen != "" {
		t.Fatalf("--http '' (disable): %v, %q", err, cfg.HTTP.Listen)
	}
}

// httpURL is the monitoring listener's base URL, from its log line.
func httpURL(t *testing.T, p *proc) string {
	t.Helper()
	line := p.waitLog(t, "listening for http")
	scheme := strings.TrimSuffix(line["message"].(string)[len("listening for "):], "://")
	return scheme + "://" + line["addr"].(string)
}

// getJSON GETs url into v (a pointer) and returns the status code.
func getJSON(t *testing.T, c *http.Client, url string, v any) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		// Decoded into a zero value: a field the answer omits must not
		// keep what an earlier answer said.
		reflect.ValueOf(v).Elem().SetZero()
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v in %s", url, err, body)
		}
	}
	return resp.StatusCode
}

func connectNamed(t *testing.T, url, name string) *sdk.Conn {
	t.Helper()
	c, err := sdk.Connect(url, sdk.Name(name), sdk.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wsURL(t *testing.T, p *proc) string {
	t.Helper()
	line := p.waitLog(t, "listening for ws://")
	return "ws://" + line["addr"].(string) + line["path"].(string)
}

// Every JSON endpoint, against the real binary with real clients on two
// transports.
func TestMonitoringEndpoints(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir())
	base := httpURL(t, p)
	tcpURL, ws := listenURL(t, p), wsURL(t, p)
	hc := &http.Client{Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	idle := connectNamed(t, tcpURL, "idler")
	if err := idle.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sub := connectNamed(t, ws, "watcher")
	got := make(chan *sdk.Msg, 100)
	if _, err := sub.Subscribe("mon.>", func(m *sdk.Msg) { got <- m }); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.QueueSubscribe("mon.*", "workers", func(*sdk.Msg) {}); err != nil {
		t.Fatal(err)
	}
	sub.Flush(ctx)
	// The sampler sees the idler still idle a sampling period or two later.
	time.Sleep(2500 * time.Millisecond)
	pub := connectNamed(t, tcpURL, "pusher")
	for i := range 5 {
		if err := pub.PublishAck(ctx, &sdk.Msg{Topic: "mon.x", Data: []byte(fmt.Sprint("hello", i))}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("messages did not arrive")
		}
	}

	var health struct {
		Status string
		Checks map[string]string
	}
	if code := getJSON(t, hc, base+"/healthz", &health); code != 200 || health.Status != "ok" ||
		health.Checks["listener tcp"] != "ok" || health.Checks["listener ws"] != "ok" ||
		health.Checks["listener quic"] != "ok" || health.Checks["retained store"] != "ok" {
		t.Fatalf("healthz %d %+v", code, health)
	}

	var v monitor.Varz
	getJSON(t, hc, base+"/varz", &v)
	if v.Connections != 3 || v.Protocols["tcp"].Connections != 2 || v.Protocols["ws"].Connections != 1 ||
		v.MsgsIn != 5 || v.Protocols["tcp"].MsgsIn != 5 || v.Protocols["ws"].MsgsOut != 10 || v.MsgsOut != 10 ||
		v.BytesIn != 30 || v.Subscriptions != 2 || v.ServerID == "" || v.Goroutines == 0 || v.Mem == 0 {
		t.Fatalf("varz: %+v", v)
	}
	if listen := v.Config["listen"].(map[string]any); listen["tcp"] != strings.TrimPrefix(tcpURL, "tcp://") {
		t.Fatalf("varz config listen %v, tcp at %s", listen, tcpURL)
	}

	var cz monitor.Connz
	getJSON(t, hc, base+"/connz?sort=msgs_in", &cz)
	if cz.Total != 3 || len(cz.Conns) != 3 || cz.Conns[0].Name != "pusher" || cz.Conns[0].MsgsIn != 5 {
		t.Fatalf("connz by msgs_in: %+v", cz)
	}
	for _, c := range cz.Conns {
		if c.Pending < 0 || c.Remote == "" || c.Start.IsZero() {
			t.Fatalf("connz entry %+v", c)
		}
	}
	getJSON(t, hc, base+"/connz?sort=idle", &cz)
	if cz.Conns[0].Name != "idler" || cz.Conns[0].IdleSecs < 1 {
		t.Fatalf("connz by idle: %+v", cz.Conns)
	}
	getJSON(t, hc, base+"/connz?protocol=ws&subs=1", &cz)
	if cz.Total != 1 || cz.Conns[0].Name != "watcher" || cz.Conns[0].MsgsOut != 10 || len(cz.Conns[0].Subs) != 2 ||
		cz.Conns[0].Subs[0].Filter != "mon.>" || cz.Conns[0].Subs[1].Queue != "workers" {
		t.Fatalf("connz protocol=ws: %+v", cz)
	}
	getJSON(t, hc, base+"/connz?sort=bytes&limit=1&offset=1", &cz)
	if cz.Total != 3 || cz.Count != 1 || cz.Conns[0].Name != "pusher" {
		t.Fatalf("connz page 2 of 1 by bytes: %+v", cz)
	}
	for _, bad := range []string{"sort=name", "limit=0", "offset=-1", "state=sleepy"} {
		var e map[string]string
		if code := getJSON(t, hc, base+"/connz?"+bad, &e); code != 400 || e["error"] == "" {
			t.Errorf("connz?%s: %d %v", bad, code, e)
		}
	}

	var sz monitor.Subsz
	getJSON(t, hc, base+"/subsz?test=mon.x", &sz)
	if sz.Subscriptions != 2 || sz.Filters != 2 || sz.QueueGroups != 1 || len(sz.Entries) != 2 {
		t.Fatalf("subsz: %+v", sz)
	}
	if sz.Test == nil || sz.Test.Deliveries != 2 || len(sz.Test.Receivers) != 2 || sz.Test.Receivers[0].Name != "watcher" ||
		sz.Test.Receivers[0].Protocol != "ws" || sz.Test.Receivers[1].Queue != "workers" {
		t.Fatalf("subsz test: %+v", sz.Test)
	}
	getJSON(t, hc, base+"/subsz?test=other.topic", &sz)
	if len(sz.Test.Receivers) != 0 || sz.Test.Deliveries != 0 {
		t.Fatalf("subsz test of a topic nobody wants: %+v", sz.Test)
	}
	if code := getJSON(t, hc, base+"/subsz?test=mon.*", nil); code != 400 {
		t.Fatalf("a wildcard test topic: %d", code)
	}

	var pz monitor.Pluginz
	if code := getJSON(t, hc, base+"/pluginz", &pz); code != 200 || pz.Plugins == nil || len(withoutMQTT(pz.Plugins)) != 0 {
		t.Fatalf("pluginz without plugins (but the linked MQTT): %d %+v", code, pz)
	}

	// A closed connection is kept, with its counters and why it closed.
	pub.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		getJSON(t, hc, base+"/connz?state=closed", &cz)
		if cz.Total == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cz.Total != 1 || cz.Conns[0].Name != "pusher" || cz.Conns[0].MsgsIn != 5 || cz.Conns[0].Stop == nil {
		t.Fatalf("connz closed: %+v", cz)
	}
	getJSON(t, hc, base+"/connz?state=all", &cz)
	if cz.Total != 3 {
		t.Fatalf("connz all: %+v", cz)
	}
	if code := getJSON(t, hc, base+"/debug/pprof/", nil); code != 404 {
		t.Fatalf("pprof served without http.pprof: %d", code)
	}
}

// /metrics passes the real promtool, and carries the broker's counters
// and the retained store's ack latency.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := testproc.Need(t, "promtool")
	p := startBroker(t, "--data-dir", t.TempDir())
	base := httpURL(t, p)
	c := connectNamed(t, listenURL(t, p), "m")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		if err := c.PublishAck(ctx, &sdk.Msg{Topic: "m.kept", Data: []byte("1234"), Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	// A refused client, counted as an auth failure? The broker runs open
	// here; auth failures are counted in TestMonitoringAuthFailures.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	text := string(body)
	for _, want := range []string{
		`msgtrans_received_messages_total{protocol="tcp"} 3`,
		`msgtrans_received_bytes_total{protocol="tcp"} 12`,
		`msgtrans_connections{protocol="tcp"} 1`,
		`msgtrans_connections_opened_total{protocol="tcp"} 1`,
		"msgtrans_retained_messages 1",
		"msgtrans_retained_bytes 10",
		"msgtrans_retained_ack_duration_seconds_count 3",
		"msgtrans_slow_consumers_total 0",
		"msgtrans_auth_failures_total 0",
		"msgtrans_permission_denials_total 0",
		"msgtrans_subscriptions 0",
		"msgtrans_pending_bytes ",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestMonitoringAuthFailures(t *testing.T) {
	cfg := writeConfig(t, "auth:\n  token: s3cret\n")
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", cfg)
	base := httpURL(t, p)
	if c, err := sdk.Connect(listenURL(t, p), sdk.Token("wrong"), sdk.MaxReconnects(0)); err == nil {
		c.Close()
		t.Fatal("a wrong token was accepted")
	}
	var v monitor.Varz
	getJSON(t, http.DefaultClient, base+"/varz", &v)
	if v.AuthFailures != 1 || v.Config["auth"] != true {
		t.Fatalf("varz after a refused client: auth_failures %d, config %v", v.AuthFailures, v.Config)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "msgtrans_auth_failures_total 1") {
		t.Fatal("metrics do not count the refused client")
	}
}

// A plugin that dies is reported: $SYS events, /pluginz, /healthz (503
// naming it while it cannot be restarted).
func TestPluginCrashIsMonitored(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "example-plugin")
	data, err := os.ReadFile(pluginBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", textConfig(t, "path: "+bin, ""))
	base := httpURL(t, p)
	started := p.waitLog(t, "plugin started", `"plugin":"text"`)
	pid := int(started["pid"].(float64))
	hc := &http.Client{Timeout: 5 * time.Second}

	var pz monitor.Pluginz
	getJSON(t, hc, base+"/pluginz", &pz)
	pz.Plugins = withoutMQTT(pz.Plugins)
	if len(pz.Plugins) != 1 || pz.Plugins[0].Name != "text" || pz.Plugins[0].State != "running" || pz.Plugins[0].PID != pid ||
		pz.Plugins[0].Restarts != 0 || pz.Plugins[0].Status == "" {
		t.Fatalf("pluginz: %+v", pz)
	}
	var health struct {
		Status string
		Down   map[string]string
		Checks map[string]string
	}
	if code := getJSON(t, hc, base+"/healthz", &health); code != 200 || health.Checks["plugin text"] != "ok" {
		t.Fatalf("healthz with the plugin up: %d %+v", code, health)
	}

	c := connectNamed(t, listenURL(t, p), "sys")
	events := make(chan *sdk.Msg, 10)
	if _, err := c.Subscribe("$SYS.plugin.>", func(m *sdk.Msg) { events <- m }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c.Flush(ctx)
	next := func(topic string) map[string]any {
		t.Helper()
		select {
		case m := <-events:
			var e map[string]any
			if m.Topic != topic || json.Unmarshal(m.Data, &e) != nil {
				t.Fatalf("got %s %s, want %s", m.Topic, m.Data, topic)
			}
			return e
		case <-ctx.Done():
			t.Fatalf("no %s event", topic)
			return nil
		}
	}

	syscall.Kill(pid, syscall.SIGKILL)
	if e := next("$SYS.plugin.crashed"); e["plugin"] != "text" || int(e["pid"].(float64)) != pid || e["reason"] == "" {
		t.Fatalf("crash event %v", e)
	}
	e := next("$SYS.plugin.restarted")
	newPID := int(e["pid"].(float64))
	if e["plugin"] != "text" || newPID == pid || e["restarts"] != 1.0 {
		t.Fatalf("restart event %v", e)
	}
	getJSON(t, hc, base+"/pluginz", &pz)
	pz.Plugins = withoutMQTT(pz.Plugins)
	if pz.Plugins[0].State != "running" || pz.Plugins[0].PID != newPID || pz.Plugins[0].Restarts != 1 {
		t.Fatalf("pluginz after a restart: %+v", pz)
	}

	// Now it cannot come back: its binary is replaced by one that is not
	// a plugin. While the broker keeps trying, /healthz says
	// which plugin is down and why.
	// (Written beside it and renamed over it: the running binary cannot
	// be written to.)
	if err := os.WriteFile(bin+".new", []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(newPID, syscall.SIGKILL)
	next("$SYS.plugin.crashed")
	deadline := time.Now().Add(10 * time.Second)
	var code int
	for {
		code = getJSON(t, hc, base+"/healthz", &health)
		if code == 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != 503 || health.Status != "unavailable" || !strings.HasPrefix(health.Down["plugin text"], "restarting") ||
		health.Checks["listener tcp"] != "ok" {
		t.Fatalf("healthz with the plugin down: %d %+v", code, health)
	}
	getJSON(t, hc, base+"/pluginz", &pz)
	pz.Plugins = withoutMQTT(pz.Plugins)
	if pz.Plugins[0].State != "restarting" || pz.Plugins[0].PID != 0 || pz.Plugins[0].LastError == "" {
		t.Fatalf("pluginz while down: %+v", pz)
	}
}

func TestMonitoringDisabled(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir(), "--http", "")
	p.waitLog(t, "listening for quic://")
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitLog(t, "stopped")
	if slices.ContainsFunc(p.seen, func(l string) bool { return strings.Contains(l, "listening for http") }) {
		t.Fatal("monitoring listened with --http ''")
	}
}

// An optional plugin that cannot start is shown as failed, and does not
// make the broker unhealthy: that is what optional means.
func TestOptionalPluginDoesNotFailHealth(t *testing.T) {
	cfg := textConfig(t, "path: "+filepath.Join(t.TempDir(), "no-such-plugin"), "    optional: true\n")
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", cfg)
	base := httpURL(t, p)
	var health struct {
		Status string
		Checks map[string]string
	}
	if code := getJSON(t, http.DefaultClient, base+"/healthz", &health); code != 200 || health.Status != "ok" {
		t.Fatalf("healthz: %d %+v", code, health)
	}
	if _, ok := health.Checks["plugin text"]; ok {
		t.Fatalf("an optional plugin is checked: %+v", health.Checks)
	}
	var pz monitor.Pluginz
	getJSON(t, http.DefaultClient, base+"/pluginz", &pz)
	pz.Plugins = withoutMQTT(pz.Plugins)
	if len(pz.Plugins) != 1 || pz.Plugins[0].State != "failed" || !strings.Contains(pz.Plugins[0].LastError, "no-such-plugin") {
		t.Fatalf("pluginz: %+v", pz)
	}
}

// makeSlowConsumer connects a raw client named name to the TCP listener
// at addr that subscribes to topic and never reads, then floods topic
// through pub until the broker cuts the client off as a slow consumer
// (the broker must run with a small limits.max_pending).
func makeSlowConsumer(t *testing.T, addr, name, topic string, pub *sdk.Conn) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	hello := wire.AppendHello(nil, &wire.Hello{Name: name})
	raw.Write(wire.AppendPing(wire.AppendSub(hello, 1, topic, "")))
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := wire.NewReader(raw, wire.DefaultMaxFrame)
	for f := (wire.Frame{}); f.Type != wire.TypePong; { // WELCOME, then the PONG: the SUB is in place
		if err := r.Next(&f); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 32<<10)
	for range 64 { // 2 MiB against a 64 KiB limit and the socket buffers
		pub.Publish(topic, big)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

const smallPendingConfig = "limits:\n  max_payload: 32KiB\n  max_pending: 64KiB\n"

func TestSlowConsumerIsMonitored(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", writeConfig(t, smallPendingConfig))
	base := httpURL(t, p)
	tcpURL := listenURL(t, p)
	pub := connectNamed(t, tcpURL, "flooder")
	makeSlowConsumer(t, strings.TrimPrefix(tcpURL, "tcp://"), "laggard", "flood", pub)

	var v monitor.Varz
	deadline := time.Now().Add(10 * time.Second)
	for getJSON(t, http.DefaultClient, base+"/varz", &v); v.SlowConsumers == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		getJSON(t, http.DefaultClient, base+"/varz", &v)
	}
	if v.SlowConsumers != 1 || v.Connections != 1 {
		t.Fatalf("varz: slow consumers %d, connections %d", v.SlowConsumers, v.Connections)
	}
	var cz monitor.Connz
	getJSON(t, http.DefaultClient, base+"/connz?state=closed", &cz)
	if cz.Total != 1 || cz.Conns[0].Name != "laggard" || !strings.Contains(cz.Conns[0].Reason, "slow consumer") || cz.Conns[0].MsgsOut == 0 {
		t.Fatalf("connz closed: %+v", cz)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "msgtrans_slow_consumers_total 1") {
		t.Fatal("metrics do not count the slow consumer")
	}
}

// withoutMQTT drops the MQTT protocol, which the service links in and
// supervises like a plugin (startBroker gives it a free port), from a
// /pluginz list.
func withoutMQTT(ps []monitor.PluginInfo) []monitor.PluginInfo {
	out := []monitor.PluginInfo{}
	for _, p := range ps {
		if p.Name != "mqtt" {
			out = append(out, p)
		}
	}
	return out
}
