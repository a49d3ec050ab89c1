package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/internal/testproc"
)

// A clustered broker reports its link to Redis in /healthz (down, named,
// while Redis is gone) and its backplane counters in /metrics, which
// promtool accepts.
func TestClusterMonitored(t *testing.T) {
	redisBin := testproc.Need(t, "redis-server")
	promtool := testproc.Need(t, "promtool")
	addr := testproc.FreePort(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	redis := testproc.Start(t, redisBin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	redis.WaitTCP(addr, 10*time.Second)

	p := startBroker(t, "--data-dir", t.TempDir(), "--cluster", "redis://"+addr, "--ws", "", "--quic", "")
	base := httpURL(t, p)
	hc := &http.Client{Timeout: 5 * time.Second}
	health := func() (int, map[string]any) {
		resp, err := hc.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	waitHealth := func(want int) map[string]any {
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, body := health()
			if code == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/healthz stayed %d (%v), want %d", code, body, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitHealth(http.StatusOK)

	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"msgtrans_cluster_up 1", `msgtrans_cluster_messages_total{direction="out"}`, "msgtrans_cluster_reconnects_total 0"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(string(metrics))
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}

	redis.Kill()
	body := waitHealth(http.StatusServiceUnavailable)
	if down, _ := body["down"].(map[string]any); down == nil || down["cluster"] == nil {
		t.Fatalf("/healthz while Redis is gone: %v, want the cluster named", body)
	}
}
