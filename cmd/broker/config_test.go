package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigMatchesDefaults(t *testing.T) {
	cfg, _, err := loadConfig([]string{"--config", "../../docs/broker.example.yaml"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := defaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Fatalf("docs/broker.example.yaml drifted from the defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

// The commented-out plugins block of the example is a valid
// configuration once uncommented: one plugin of each kind.
func TestExamplePluginsBlock(t *testing.T) {
	data, err := os.ReadFile("../../docs/broker.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "# plugins:") || (len(block) > 0 && strings.HasPrefix(l, "#   ")) {
			block = append(block, strings.TrimPrefix(l, "# "))
		} else if len(block) > 0 {
			break
		}
	}
	cfg, _, err := loadConfig([]string{"--config", writeConfig(t, strings.Join(block, "\n"))}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Plugins) != 2 || cfg.Plugins[0].Path == "" || cfg.Plugins[1].Builtin != "text" {
		t.Fatalf("plugins: %+v", cfg.Plugins)
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "broker.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"limits:\n  max_payloads: 10\n", "max_payloads"},
		{"bogus: 1\n", "bogus"},
		{"limits:\n  max_payload: lots\n", `invalid size "lots"`},
		{"mqtt:\n  receive_maximum: 0\n", "mqtt.receive_maximum"},
		{"mqtt:\n  max_keep_alive: 1500ms\n", "mqtt.max_keep_alive"},
		{"mqtt:\n  tls:\n    listen: 127.0.0.1:8883\n", "mqtt.tls"},
		{"mqtt:\n  ws_path: /ws\n", "mqtt.ws_path"},
		{"mqtt:\n  max_packet_size: 10\n", "mqtt.max_packet_size"},
		{"plugins:\n  - name: mqtt\n    builtin: text\n", `"mqtt" is the linked-in MQTT protocol's name`},
		{"limits:\n  max_pending: 1KiB\n", "limits.max_pending"},
		{"limits:\n  max_connections: -1\n", "limits.max_connections"},
		{"sessions:\n  ping_interval: 10s\n  dead_peer_timeout: 5s\n", "sessions.dead_peer_timeout"},
		{"sessions:\n  handshake_timeout: soon\n", "(sessions.handshake_timeout)"},
		{"sessions:\n  max_frame: 1KiB\n", "sessions.max_frame"},
		{"ws:\n  path: ws\n", "ws.path"},
		{"ws:\n  allowed_origins: [example.com]\n", "ws.allowed_origins[0]"},
		{"quic:\n  keepalive_period: 1m\n", "quic.keepalive_period"},
		{"quic:\n  tls:\n    key_file: k.pem\n", "quic.tls"},
		{"limits:\n  max_payload: lots\n", "(limits.max_payload)"},
		{"tcp:\n  tls:\n    cert_file: a.pem\n", "tcp.tls"},
		{"log:\n  level: loud\n", "log.level"},
		{"auth:\n  users:\n    - user: bob\n", "auth.users[0]"},
		{"shutdown:\n  drain_timeout: 0s\n", "shutdown.drain_timeout"},
		{"plugins:\n  - path: /bin/x\n", "plugins[0].name"},
		{"plugins:\n  - name: a\n    path: /x\n  - name: a\n    path: /y\n", "plugins[1].name"},
		{"plugins:\n  - name: tcp\n    path: /x\n", "built-in protocol"},
		{"plugins:\n  - name: a\n", "plugins[0].path"},
		{"plugins:\n  - name: a\n    path: /x\n    sha256: abc\n", "plugins[0].sha256"},
		{"plugins:\n  - name: a\n    path: /x\n    setting: {}\n", "setting"},
		{"plugins:\n  - name: wss\n    builtin: text\n", "plugins[0].name"},
		{"plugins:\n  - name: a\n    builtin: nope\n", `plugins[0].builtin: "nope" is not a protocol linked into this broker (have: mqtt, text)`},
		{"plugins:\n  - name: a\n    builtin: text\n    path: /x\n", "plugins[0].path"},
		{"plugins:\n  - name: a\n    builtin: text\n    args: [x]\n", "plugins[0].args"},
		{"plugins:\n  - name: a\n    builtin: text\n    sha256: abc\n", "plugins[0].sha256: applies to a plugin binary"},
		{"plugins:\n  - name: a\n    optional: true\n", "plugins[0].path: must be set, or builtin"},
	} {
		_, _, err := loadConfig([]string{"--config", writeConfig(t, tc.body)}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error mentioning %q", tc.body, err, tc.want)
		}
	}
	if _, _, err := loadConfig([]string{"--config", "/nonexistent/broker.yaml"}, io.Discard); err == nil {
		t.Error("missing config file accepted")
	}
	if _, _, err := loadConfig([]string{"--nope"}, io.Discard); err == nil {
		t.Error("unknown flag accepted")
	}
}

// A removed option is refused by name with the reason, not ignored: a
// config that sets it expects an effect it would not get.
func TestRemovedKeyRefused(t *testing.T) {
	for _, v := range []string{"1", "8"} {
		body := "quic:\n  listen: 127.0.0.1:0\n  max_incoming_streams: " + v + "\n"
		_, _, err := loadConfig([]string{"--config", writeConfig(t, body)}, io.Discard)
		if err == nil {
			t.Fatalf("max_incoming_streams: %s accepted", v)
		}
		for _, want := range []string{"quic.max_incoming_streams", "line 3", "removed", "one stream"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("max_incoming_streams: %s: %q does not say %q", v, err, want)
			}
		}
	}
}

// Each protocol label a built-in transport gives its sessions is refused as
// a plugin name: the plugin's sessions would be counted as that transport's.
func TestPluginNameNotABuiltinLabel(t *testing.T) {
	for _, name := range []string{"tcp", "tls", "ws", "wss", "quic", "inproc"} {
		body := "plugins:\n  - name: " + name + "\n    path: /x\n"
		_, _, err := loadConfig([]string{"--config", writeConfig(t, body)}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "plugins[0].name") || !strings.Contains(err.Error(), "built-in protocol") {
			t.Errorf("plugin named %s: %v", name, err)
		}
	}
}

func TestBuiltinPluginConfig(t *testing.T) {
	p := writeConfig(t, "plugins:\n  - name: text\n    builtin: text\n    optional: true\n    settings:\n      listen: 127.0.0.1:0\n")
	cfg, _, err := loadConfig([]string{"--config", p}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Plugins) != 1 || cfg.Plugins[0].Builtin != "text" || !cfg.Plugins[0].Optional || cfg.Plugins[0].Settings["listen"] != "127.0.0.1:0" {
		t.Fatalf("plugins: %+v", cfg.Plugins)
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	p := writeConfig(t, "tcp:\n  listen: 127.0.0.1:9999\nws:\n  listen: 127.0.0.1:9998\n  path: /a\nquic:\n  listen: 127.0.0.1:9997\nsessions:\n  ping_interval: 2s\n  dead_peer_timeout: 4s\nlimits:\n  max_payload: 64KiB\nlog:\n  level: debug\n")
	cfg, _, err := loadConfig([]string{"--config", p, "--tcp", "", "--ws", "127.0.0.1:1", "--ws-path", "/b", "--quic", "", "--log-level", "warn", "--data-dir", "/tmp/x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TCP.Listen != "" || cfg.WS.Listen != "127.0.0.1:1" || cfg.WS.Path != "/b" || cfg.QUIC.Listen != "" ||
		cfg.Log.Level != "warn" || cfg.DataDir != "/tmp/x" {
		t.Fatalf("flags did not override: %+v", cfg)
	}
	if cfg.Sessions.PingInterval != 2*time.Second || cfg.Limits.MaxPayload != 64<<10 {
		t.Fatalf("file values lost: %+v", cfg)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "512": 512, "64KiB": 64 << 10, "1MiB": 1 << 20, "2 GiB": 2 << 30, "5KB": 5000, "7B": 7} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%q: %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "1TiB", "x"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
