package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/ws"
	"github.com/msgtrans/msgtrans/plugins"
	"github.com/msgtrans/msgtrans/protocols/mqtt"
	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
)

// MQTTConfig is the MQTT protocol linked into the broker (protocols/mqtt),
// documented in docs/mqtt.md and docs/configuration.md.
type MQTTConfig struct {
	Listen            string        `yaml:"listen"` // empty disables the plain TCP listener
	TLS               MQTTTLSConfig `yaml:"tls"`
	WSPath            string        `yaml:"ws_path"` // MQTT over WebSocket on the ws listener; empty: none
	MaxPacketSize     Size          `yaml:"max_packet_size"`
	ReceiveMaximum    int           `yaml:"receive_maximum"`
	TopicAliasMaximum int           `yaml:"topic_alias_maximum"`
	MaxKeepAlive      time.Duration `yaml:"max_keep_alive"`
	MaxQueued         int           `yaml:"max_queued"`
	MaxSessionExpiry  time.Duration `yaml:"max_session_expiry"`
	ConnectTimeout    time.Duration `yaml:"connect_timeout"`
}

// MQTTTLSConfig is MQTT over TLS, on a listener of its own, with the same
// certificate, client CA and map_identity keys as every other listener's
// TLS section (reloaded with them).
type MQTTTLSConfig struct {
	Listen    string `yaml:"listen"` // empty: no TLS listener
	TLSConfig `yaml:",inline"`
}

func defaultMQTT() MQTTConfig {
	return MQTTConfig{
		Listen:            "127.0.0.1:1883",
		WSPath:            "/mqtt",
		MaxPacketSize:     packet.DefaultMaxPacketSize,
		ReceiveMaximum:    1024,
		TopicAliasMaximum: 64,
		MaxQueued:         1000,
		MaxSessionExpiry:  7 * 24 * time.Hour,
		ConnectTimeout:    10 * time.Second,
	}
}

// enabled reports whether MQTT is served: on a listener of its own, or
// over WebSocket on the ws listener.
func (c *Config) mqttEnabled() bool {
	return c.MQTT.Listen != "" || c.MQTT.TLS.Listen != "" || c.mqttOverWS()
}

func (c *Config) mqttOverWS() bool { return c.MQTT.WSPath != "" && c.WS.Listen != "" }

// validateMQTT checks the mqtt section, reporting through bad.
func (c *Config) validateMQTT(bad func(key, format string, a ...any)) {
	m := &c.MQTT
	if m.MaxPacketSize < 64 || m.MaxPacketSize > packet.MaxRemainingLength+5 {
		bad("mqtt.max_packet_size", "%d is not between 64 and %d", m.MaxPacketSize, packet.MaxRemainingLength+5)
	}
	if m.ReceiveMaximum < 1 || m.ReceiveMaximum > 65535 {
		bad("mqtt.receive_maximum", "%d is not between 1 and 65535", m.ReceiveMaximum)
	}
	if m.TopicAliasMaximum < 0 || m.TopicAliasMaximum > 65535 {
		bad("mqtt.topic_alias_maximum", "%d is not between 0 and 65535", m.TopicAliasMaximum)
	}
	if m.MaxKeepAlive < 0 || m.MaxKeepAlive > 65535*time.Second || m.MaxKeepAlive%time.Second != 0 {
		bad("mqtt.max_keep_alive", "%v is not whole seconds between 0 (no limit) and 65535s", m.MaxKeepAlive)
	}
	if m.MaxQueued < 0 {
		bad("mqtt.max_queued", "must not be negative")
	}
	if m.MaxSessionExpiry < 0 || m.MaxSessionExpiry > (1<<31-1)*time.Second {
		bad("mqtt.max_session_expiry", "%v is out of range", m.MaxSessionExpiry)
	}
	if m.ConnectTimeout <= 0 {
		bad("mqtt.connect_timeout", "must be a positive duration")
	}
	if m.TLS.Listen != "" && (m.TLS.CertFile == "" || m.TLS.KeyFile == "") {
		bad("mqtt.tls", "listen needs cert_file and key_file")
	}
	if m.TLS.Listen == "" && (m.TLS.CertFile != "" || m.TLS.KeyFile != "") {
		bad("mqtt.tls.listen", "must be set with cert_file and key_file")
	}
	if m.WSPath != "" && (!strings.HasPrefix(m.WSPath, "/") || m.WSPath == c.WS.Path) {
		bad("mqtt.ws_path", "%q must start with / and differ from ws.path", m.WSPath)
	}
	if c.mqttEnabled() {
		for i, p := range c.Plugins {
			if p.Name == "mqtt" {
				bad(fmt.Sprintf("plugins[%d].name", i), `"mqtt" is the linked-in MQTT protocol's name while mqtt.listen or mqtt.tls.listen is set`)
			}
		}
	}
}

// mqttSettings are the linked-in protocol's settings (the same names a
// cmd/mqtt-plugin entry takes under plugins[].settings).
func (m *MQTTConfig) settings(dataDir string) map[string]string {
	return map[string]string{
		"data_dir":            dataDir,
		"listen":              m.Listen,
		"tls_listen":          m.TLS.Listen,
		"tls_cert_file":       m.TLS.CertFile,
		"tls_key_file":        m.TLS.KeyFile,
		"tls_client_ca_file":  m.TLS.ClientCAFile,
		"tls_verify":          strconv.FormatBool(m.TLS.Verify),
		"max_packet_size":     strconv.FormatInt(int64(m.MaxPacketSize), 10),
		"receive_maximum":     strconv.Itoa(m.ReceiveMaximum),
		"topic_alias_maximum": strconv.Itoa(m.TopicAliasMaximum),
		"max_keep_alive":      strconv.Itoa(int(m.MaxKeepAlive / time.Second)),
		"max_queued":          strconv.Itoa(m.MaxQueued),
		"max_session_expiry":  strconv.Itoa(int(m.MaxSessionExpiry / time.Second)),
		"connect_timeout_ms":  strconv.Itoa(int(m.ConnectTimeout / time.Millisecond)),
	}
}

// mqttListener is the linked-in MQTT protocol, supervised like a plugin;
// wsConns brings it the connections of the ws listener's MQTT path.
// Its TLS listener takes its certificates and client CAs from ts, so that a
// reload reaches it as it reaches the others.
func mqttListener(cfg Config, e *adapters.Engine, wsConns <-chan net.Conn, ts *tlsSet, opts plugins.Options) (adapters.Listener, error) {
	p := mqtt.Protocol{Conns: wsConns}
	if cfg.MQTT.TLS.Listen != "" {
		t, err := ts.serverTLS(cfg.MQTT.TLS.TLSConfig, "mqtt.tls", nil)
		if err != nil {
			return nil, err
		}
		p.TLS = t
	}
	return plugins.New(plugins.Config{Name: "mqtt", Settings: cfg.MQTT.settings(cfg.DataDir), Protocol: p}, e, opts)
}

// mqttRoutes are the ws listener's MQTT path, handing its connections to
// the MQTT protocol (which may be restarting: a connection it does not
// take in time is closed, and the client reconnects).
func mqttRoutes(cfg Config, conns chan<- net.Conn) []ws.Route {
	if !cfg.mqttOverWS() {
		return nil
	}
	return []ws.Route{{Path: cfg.MQTT.WSPath, Subprotocol: "mqtt", Serve: func(ctx context.Context, c net.Conn) {
		select {
		case conns <- c:
		case <-ctx.Done():
			c.Close()
		case <-time.After(5 * time.Second):
			c.Close()
		}
	}}}
}
