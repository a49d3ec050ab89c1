package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/quic"
	"github.com/msgtrans/msgtrans/adapters/ws"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/plugins"
	"github.com/msgtrans/msgtrans/wire"
)

// Config is the service configuration: the YAML file, then flags on top.
// Every key is documented in docs/configuration.md.
type Config struct {
	DataDir  string         `yaml:"data_dir"`
	Log      LogConfig      `yaml:"log"`
	Limits   LimitsConfig   `yaml:"limits"`
	Sessions SessionsConfig `yaml:"sessions"`
	TCP      TCPConfig      `yaml:"tcp"`
	WS       WSConfig       `yaml:"ws"`
	QUIC     QUICConfig     `yaml:"quic"`
	HTTP     HTTPConfig     `yaml:"http"`
	Plugins  []PluginConfig `yaml:"plugins"`
	MQTT     MQTTConfig     `yaml:"mqtt"`
	Auth     AuthConfig     `yaml:"auth"`
	Retained RetainedConfig `yaml:"retained"`
	Shutdown ShutdownConfig `yaml:"shutdown"`
	Cluster  ClusterConfig  `yaml:"cluster"`
}

type LogConfig struct {
	Level  string `yaml:"level"`  // trace, debug, info, warn, error
	Format string `yaml:"format"` // console or json; empty: console on a terminal
}

type LimitsConfig struct {
	MaxConnections   int  `yaml:"max_connections"`
	MaxPayload       Size `yaml:"max_payload"`
	MaxSubscriptions int  `yaml:"max_subscriptions"`
	MaxSubsPerTopic  int  `yaml:"max_subscriptions_per_topic"`
	MaxPending       Size `yaml:"max_pending"`
	MaxMemory        Size `yaml:"max_memory"` // 0: half of the machine's (or cgroup's) memory
}

// SessionsConfig tunes native-protocol sessions on every transport.
type SessionsConfig struct {
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	PingInterval     time.Duration `yaml:"ping_interval"`
	DeadPeerTimeout  time.Duration `yaml:"dead_peer_timeout"`
	WriteTimeout     time.Duration `yaml:"write_timeout"`
	FrameTimeout     time.Duration `yaml:"frame_timeout"`
	MaxFrame         Size          `yaml:"max_frame"`
}

type TCPConfig struct {
	Listen    string        `yaml:"listen"` // empty disables TCP
	TLS       TLSConfig     `yaml:"tls"`
	NoDelay   bool          `yaml:"no_delay"`
	KeepAlive time.Duration `yaml:"keepalive"` // negative disables
}

type WSConfig struct {
	Listen         string        `yaml:"listen"` // empty disables WebSocket
	Path           string        `yaml:"path"`
	AllowedOrigins []string      `yaml:"allowed_origins"`
	TLS            TLSConfig     `yaml:"tls"`
	KeepAlive      time.Duration `yaml:"keepalive"`
}

type QUICConfig struct {
	Listen          string        `yaml:"listen"` // empty disables QUIC
	TLS             TLSConfig     `yaml:"tls"`    // empty: a generated certificate kept in data_dir
	KeepAlivePeriod time.Duration `yaml:"keepalive_period"`
	MaxIdleTimeout  time.Duration `yaml:"max_idle_timeout"`
}

// PluginConfig is one protocol written against sdk/plugin: a plugin binary
// run as its own process (Path), or a protocol linked into the broker
// (Builtin).
type PluginConfig struct {
	Name     string            `yaml:"name"`
	Path     string            `yaml:"path"`
	Args     []string          `yaml:"args"`
	SHA256   string            `yaml:"sha256"`   // optional pin of the binary
	Builtin  string            `yaml:"builtin"`  // a protocol of builtinProtocols, instead of a binary
	Optional bool              `yaml:"optional"` // a plugin that fails to start is logged, not fatal
	Settings map[string]string `yaml:"settings"` // handed to the plugin at start
}

type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// mTLS (config_auth.go)
	ClientCAFile string `yaml:"client_ca_file"`
	Verify       bool   `yaml:"verify"`
	MapIdentity  bool   `yaml:"map_identity"`
}

type RetainedConfig struct {
	Store       string `yaml:"store"` // bolt (in data_dir/retained.db) or memory
	MaxMessages int    `yaml:"max_messages"`
	MaxBytes    Size   `yaml:"max_bytes"`
}

type ShutdownConfig struct {
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// defaultConfig states the service's defaults. Where a library has a
// default of its own, the service takes that one by name rather than
// restating the value.
func defaultConfig() Config {
	return Config{
		DataDir: "./data",
		Log:     LogConfig{Level: "info"},
		Limits: LimitsConfig{
			MaxConnections:   broker.DefaultMaxConnections,
			MaxPayload:       broker.DefaultMaxPayload,
			MaxSubscriptions: broker.DefaultMaxSubscriptions,
			MaxSubsPerTopic:  broker.DefaultMaxSubscriptionsPerTopic,
			MaxPending:       broker.DefaultMaxPending,
		},
		Sessions: SessionsConfig{
			HandshakeTimeout: adapters.DefaultHandshakeTimeout,
			PingInterval:     adapters.DefaultPingInterval,
			// The engine's own default is two ping intervals; the service
			// states it so that the key has a value to show and check.
			DeadPeerTimeout: 2 * adapters.DefaultPingInterval,
			WriteTimeout:    adapters.DefaultWriteTimeout,
			FrameTimeout:    adapters.DefaultFrameTimeout,
		},
		TCP: TCPConfig{Listen: "127.0.0.1:8001", NoDelay: true, KeepAlive: adapters.DefaultTCPKeepAlive},
		WS: WSConfig{
			Listen: "127.0.0.1:8002", Path: wire.DefaultWebSocketPath, AllowedOrigins: []string{},
			KeepAlive: adapters.DefaultTCPKeepAlive,
		},
		QUIC: QUICConfig{
			Listen:          "127.0.0.1:8003",
			KeepAlivePeriod: quic.DefaultKeepAlive,
			MaxIdleTimeout:  quic.DefaultMaxIdle,
		},
		HTTP: HTTPConfig{Listen: defaultHTTPListen},
		// Bounded by default (issue 14: 200 MB written in 1.8 s with no
		// limit): a million messages or 1 GiB, whichever comes first.
		Retained: RetainedConfig{Store: "bolt", MaxMessages: 1_000_000, MaxBytes: 1 << 30},
		MQTT:     defaultMQTT(),
		Shutdown: ShutdownConfig{DrainTimeout: 10 * time.Second},
		Cluster:  defaultClusterConfig(),
	}
}

// Size is a byte count written as an integer or with a unit: 512, 64KiB,
// 1MiB, 2GiB (also KB, MB, GB as powers of 1000).
type Size int64

func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = v
	return nil
}

func parseSize(str string) (Size, error) {
	t := strings.TrimSpace(str)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want a non-negative number of bytes, e.g. 1048576 or 1MiB)", str)
	}
	return Size(n * mult), nil
}

// loadConfig reads the file named by --config (if any), then applies the
// flags that were set on the command line.
func loadConfig(args []string, stderr io.Writer) (Config, bool, error) {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := defaultConfig()
	var (
		file      = fs.String("config", "", "YAML configuration `file`")
		tcp       = fs.String("tcp", "", "TCP listen `address` (empty disables; default "+def.TCP.Listen+")")
		wsAddr    = fs.String("ws", "", "WebSocket listen `address` (empty disables; default "+def.WS.Listen+")")
		wsPath    = fs.String("ws-path", "", "WebSocket URL `path` (default "+def.WS.Path+")")
		quicAddr  = fs.String("quic", "", "QUIC (UDP) listen `address` (empty disables; default "+def.QUIC.Listen+")")
		httpAddr  = fs.String("http", "", "monitoring HTTP listen `address` (empty disables; default "+def.HTTP.Listen+")")
		mqttAddr  = fs.String("mqtt", "", "MQTT listen `address` (empty disables; default "+def.MQTT.Listen+")")
		dataDir   = fs.String("data-dir", "", "data `directory` (default "+def.DataDir+")")
		logLevel  = fs.String("log-level", "", "log `level`: trace, debug, info, warn, error")
		logFormat = fs.String("log-format", "", "log `format`: console or json (default: console on a terminal)")
		version   = fs.Bool("version", false, "print the version and exit")
		clusterU  = fs.String("cluster", "", "Redis `URL` linking this broker to others (redis://, rediss://, unix://, Sentinel); see docs/cluster.md")
	)
	if err := fs.Parse(args); err != nil {
		return Config{}, false, err
	}
	if fs.NArg() > 0 {
		return Config{}, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *version {
		return Config{}, true, nil
	}
	cfg := def
	if *file != "" {
		data, err := os.ReadFile(*file)
		if err != nil {
			return Config{}, false, fmt.Errorf("config: %w", err)
		}
		keys := keysByLine(data)
		if err := refuseRemoved(keys); err != nil {
			return Config{}, false, fmt.Errorf("config %s: %w", *file, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, false, fmt.Errorf("config %s: %s", *file, nameKeys(err.Error(), keys))
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "tcp":
			cfg.TCP.Listen = *tcp
		case "ws":
			cfg.WS.Listen = *wsAddr
		case "ws-path":
			cfg.WS.Path = *wsPath
		case "quic":
			cfg.QUIC.Listen = *quicAddr
		case "http":
			cfg.HTTP.Listen = *httpAddr
		case "mqtt":
			cfg.MQTT.Listen = *mqttAddr
		case "data-dir":
			cfg.DataDir = *dataDir
		case "log-level":
			cfg.Log.Level = *logLevel
		case "log-format":
			cfg.Log.Format = *logFormat
		case "cluster":
			cfg.Cluster.URL = *clusterU
		}
	})
	return cfg, false, cfg.validate()
}

var lineRef = regexp.MustCompile(`line (\d+):`)

// removedKeys are options that no longer exist, with why. They are refused
// by name rather than left to the unknown-key error, so that whoever set one
// learns that it had no effect to keep.
var removedKeys = map[string]string{
	"quic.max_incoming_streams": "the native protocol uses exactly one stream per QUIC connection, so no other value could do anything; delete the line",
}

// keysByLine maps each line of a YAML document that holds a key to the
// key's dotted path (limits.max_payload, plugins[0].name). It returns nil
// for a document that does not parse.
func keysByLine(data []byte) map[int]string {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil
	}
	keys := map[int]string{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if path != "" {
					k = path + "." + k
				}
				keys[n.Content[i].Line] = k
				walk(n.Content[i+1], k)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(&root, "")
	return keys
}

// refuseRemoved names every removed option the document sets.
func refuseRemoved(keys map[int]string) error {
	var errs []error
	for _, line := range slices.Sorted(maps.Keys(keys)) {
		if why, ok := removedKeys[keys[line]]; ok {
			errs = append(errs, fmt.Errorf("line %d: %s was removed: %s", line, keys[line], why))
		}
	}
	return errors.Join(errs...)
}

// nameKeys adds the dotted key path to each "line N:" of a YAML error, so
// that a bad value is named, not only located.
func nameKeys(msg string, keys map[int]string) string {
	return lineRef.ReplaceAllStringFunc(msg, func(m string) string {
		line, _ := strconv.Atoi(lineRef.FindStringSubmatch(m)[1])
		if k, ok := keys[line]; ok {
			return fmt.Sprintf("line %d (%s):", line, k)
		}
		return m
	})
}

// validate rejects values the broker would misuse, naming the key.
func (c *Config) validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	switch strings.ToLower(c.Log.Level) {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of trace, debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "console", "json":
	default:
		bad("log.format", "%q is not console or json", c.Log.Format)
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	for _, l := range []struct {
		key string
		v   int64
	}{
		{"limits.max_connections", int64(c.Limits.MaxConnections)},
		{"limits.max_payload", int64(c.Limits.MaxPayload)},
		{"limits.max_subscriptions", int64(c.Limits.MaxSubscriptions)},
		{"limits.max_subscriptions_per_topic", int64(c.Limits.MaxSubsPerTopic)},
		{"limits.max_pending", int64(c.Limits.MaxPending)},
	} {
		if l.v <= 0 {
			bad(l.key, "must be positive, got %d", l.v)
		}
	}
	if c.Limits.MaxPayload > 64<<20 {
		bad("limits.max_payload", "%d is over the 64MiB maximum", c.Limits.MaxPayload)
	}
	if c.Limits.MaxMemory < 0 {
		bad("limits.max_memory", "must not be negative, got %d", c.Limits.MaxMemory)
	} else if c.Limits.MaxMemory > 0 && c.Limits.MaxMemory < c.Limits.MaxPending {
		bad("limits.max_memory", "%d is below limits.max_pending %d: one client could use it all", c.Limits.MaxMemory, c.Limits.MaxPending)
	}
	if c.Limits.MaxPending > 0 && c.Limits.MaxPending < c.Limits.MaxPayload {
		bad("limits.max_pending", "%d is below limits.max_payload %d", c.Limits.MaxPending, c.Limits.MaxPayload)
	}
	if c.Retained.Store != "bolt" && c.Retained.Store != "memory" {
		bad("retained.store", "%q is not bolt or memory", c.Retained.Store)
	}
	if c.Retained.MaxMessages < 0 {
		bad("retained.max_messages", "must not be negative")
	}
	ss := &c.Sessions
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"sessions.handshake_timeout", ss.HandshakeTimeout},
		{"sessions.ping_interval", ss.PingInterval},
		{"sessions.dead_peer_timeout", ss.DeadPeerTimeout},
		{"sessions.write_timeout", ss.WriteTimeout},
		{"sessions.frame_timeout", ss.FrameTimeout},
		{"quic.max_idle_timeout", c.QUIC.MaxIdleTimeout},
	} {
		if d.v <= 0 {
			bad(d.key, "must be a positive duration, got %v", d.v)
		}
	}
	if ss.DeadPeerTimeout > 0 && ss.DeadPeerTimeout < ss.PingInterval {
		bad("sessions.dead_peer_timeout", "%v is shorter than sessions.ping_interval %v", ss.DeadPeerTimeout, ss.PingInterval)
	}
	if ss.MaxFrame != 0 && ss.MaxFrame < c.Limits.MaxPayload {
		bad("sessions.max_frame", "%d is below limits.max_payload %d", ss.MaxFrame, c.Limits.MaxPayload)
	}
	for _, t := range []struct {
		key string
		c   TLSConfig
	}{{"tcp.tls", c.TCP.TLS}, {"ws.tls", c.WS.TLS}, {"quic.tls", c.QUIC.TLS}} {
		if (t.c.CertFile == "") != (t.c.KeyFile == "") {
			bad(t.key, "cert_file and key_file must be set together")
		}
	}
	if c.WS.Listen != "" && !strings.HasPrefix(c.WS.Path, "/") {
		bad("ws.path", "%q must start with /", c.WS.Path)
	}
	for i, o := range c.WS.AllowedOrigins {
		if u, err := url.Parse(o); o != ws.AnyOrigin && (err != nil || u.Scheme == "" || u.Host == "") {
			bad(fmt.Sprintf("ws.allowed_origins[%d]", i), "%q is not an origin like https://example.com, nor \"*\"", o)
		}
	}
	if c.QUIC.KeepAlivePeriod > 0 && c.QUIC.KeepAlivePeriod >= c.QUIC.MaxIdleTimeout {
		bad("quic.keepalive_period", "%v must be shorter than quic.max_idle_timeout %v, or idle clients are dropped", c.QUIC.KeepAlivePeriod, c.QUIC.MaxIdleTimeout)
	}
	seen := map[string]bool{}
	for i, p := range c.Plugins {
		key := fmt.Sprintf("plugins[%d]", i)
		switch {
		case p.Name == "" || strings.ContainsAny(p.Name, " \t\r\n"):
			bad(key+".name", "%q must be a non-empty word", p.Name)
		case seen[p.Name]:
			bad(key+".name", "%q is used twice", p.Name)
		// A plugin's name is its sessions' protocol label in stats and logs,
		// so it must not be one the built-in transports give their sessions
		// (the adapters' schemes, and broker.Client's "inproc"): their counts
		// would mix.
		case plugins.IsReservedName(p.Name):
			bad(key+".name", "%q is the name of a built-in protocol", p.Name)
		}
		seen[p.Name] = true
		if p.Builtin != "" {
			if _, ok := builtinProtocols()[p.Builtin]; !ok {
				bad(key+".builtin", "%q is not a protocol linked into this broker (have: %s)", p.Builtin, strings.Join(slices.Sorted(maps.Keys(builtinProtocols())), ", "))
			}
			for _, f := range []struct {
				key string
				set bool
			}{{"path", p.Path != ""}, {"args", len(p.Args) > 0}, {"sha256", p.SHA256 != ""}} {
				if f.set {
					bad(key+"."+f.key, "applies to a plugin binary; it cannot be set with builtin")
				}
			}
			continue
		}
		if p.Path == "" {
			bad(key+".path", "must be set, or builtin")
		}
		if p.SHA256 != "" {
			if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != 32 {
				bad(key+".sha256", "must be 64 hex digits")
			}
		}
	}
	c.HTTP.validate(bad)
	errs = append(errs, c.validateSecurity()...)
	c.validateMQTT(bad)
	if c.Shutdown.DrainTimeout <= 0 {
		bad("shutdown.drain_timeout", "must be a positive duration")
	}
	c.Cluster.validate(c, bad)
	return errors.Join(errs...)
}
