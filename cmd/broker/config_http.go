package main

import (
	"net"
	"strings"
)

// HTTPConfig is the monitoring listener (see docs/monitoring.md).
type HTTPConfig struct {
	Listen   string    `yaml:"listen"` // empty disables monitoring over HTTP
	TLS      TLSConfig `yaml:"tls"`
	User     string    `yaml:"user"`     // with password: HTTP basic authentication on every endpoint
	Password string    `yaml:"password"` //
	Pprof    bool      `yaml:"pprof"`    // serve /debug/pprof/
}

const defaultHTTPListen = "127.0.0.1:8222"

// validate checks the http block; bad records each problem.
func (h *HTTPConfig) validate(bad func(key, format string, a ...any)) {
	if h.Listen != "" {
		if _, port, err := net.SplitHostPort(h.Listen); err != nil || port == "" {
			bad("http.listen", "%q is not host:port (e.g. 127.0.0.1:8222; empty disables)", h.Listen)
		}
	}
	if (h.TLS.CertFile == "") != (h.TLS.KeyFile == "") {
		bad("http.tls", "cert_file and key_file must be set together")
	}
	if h.TLS.ClientCAFile != "" || h.TLS.Verify || h.TLS.MapIdentity {
		bad("http.tls", "client certificates are not supported on the monitoring listener (client_ca_file, verify, map_identity); use http.user and http.password")
	}
	if (h.User == "") != (h.Password == "") {
		bad("http.user", "user and password must be set together")
	}
	if strings.ContainsRune(h.User, ':') {
		bad("http.user", "%q must not contain ':' (HTTP basic authentication cannot carry it)", h.User)
	}
	if h.Listen == "" && (h.User != "" || h.TLS.CertFile != "" || h.Pprof) {
		bad("http.listen", "is empty (monitoring disabled) but other http keys are set")
	}
}

// exposedWithoutAuth reports a listener that is reachable from other
// hosts and open to anyone: worth a warning at start.
func (h *HTTPConfig) exposedWithoutAuth() bool {
	if h.Listen == "" || h.User != "" {
		return false
	}
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host != "localhost" && (ip == nil || !ip.IsLoopback())
}
