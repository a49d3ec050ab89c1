package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/internal/certs/certstest"
)

// Basic authentication and TLS on the monitoring listener, and pprof
// only when asked.
func TestMonitoringTLSAndAuth(t *testing.T) {
	ca := certstest.NewCA(t, "msgtrans monitoring test")
	cert := ca.Server("monitoring")
	certFile, keyFile, pool := cert.CertFile, cert.KeyFile, ca.Pool()
	cfg := writeConfig(t, fmt.Sprintf("http:\n  listen: 127.0.0.1:0\n  user: ops\n  password: pa55\n  pprof: true\n  tls:\n    cert_file: %s\n    key_file: %s\n", certFile, keyFile))
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", cfg, "--http", "127.0.0.1:0")
	base := httpURL(t, p)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("monitoring at %s, want https", base)
	}
	hc := tlsClient(pool)
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", 401}, {"ops", "wrong", 401}, {"other", "pa55", 401}, {"ops", "pa55", 200}} {
		for _, path := range []string{"/varz", "/metrics", "/", "/healthz", "/debug/pprof/"} {
			req, _ := http.NewRequest("GET", base+path, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s as %q/%q: %d, want %d", path, tc.user, tc.pass, resp.StatusCode, tc.want)
			}
		}
	}
	// Plain HTTP to a TLS listener gets nothing useful.
	if resp, err := http.Get("http://" + strings.TrimPrefix(base, "https://") + "/varz"); err == nil {
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served by a TLS listener")
		}
		resp.Body.Close()
	}
}

func tlsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
}
