package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestClusterConfig(t *testing.T) {
	cfg, _, err := loadConfig([]string{"--cluster", "rediss://u:secret@db.example:6380/2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.URL != "rediss://u:secret@db.example:6380/2" || cfg.Cluster.NodeTimeout != 5*time.Second {
		t.Fatalf("cluster %+v", cfg.Cluster)
	}
	for _, tc := range []struct{ body, want string }{
		{"cluster:\n  url: http://x\n", "cluster.url"},
		{"cluster:\n  url: redis+cluster://x\n", "Redis Cluster is not supported"},
		{"cluster:\n  url: redis://x?max_retries=3\n", "never retries"},
		{"cluster:\n  url: redis://s:26379?master_name=m&password=hunter2&bogus=1\n", "unexpected option"},
		{"cluster:\n  url: redis://u:hunter2@x:notaport\n", "xxxxx"},
		{"cluster:\n  url: redis://x\n  name: two words\n", "cluster.name"},
		{"cluster:\n  url: redis://x\n  node_timeout: 10ms\n", "cluster.node_timeout"},
		{"cluster:\n  url: redis://x\n  max_pending: 10\n", "cluster.max_pending"},
		{"cluster:\n  url: redis://x\n  prefix: \"\"\n", "cluster.prefix"},
		{"cluster:\n  url: redis://x\nretained:\n  store: memory\n", "retained.store"},
	} {
		_, _, err := loadConfig([]string{"--config", writeConfig(t, tc.body)}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %q", tc.body, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error shows the password: %v", tc.body, err)
		}
	}
	// A single node may keep its retained messages in memory.
	if _, _, err := loadConfig([]string{"--config", writeConfig(t, "retained:\n  store: memory\n")}, io.Discard); err != nil {
		t.Fatalf("single node: %v", err)
	}
}
