package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// A linked protocol's slog lines become the broker's zerolog events, at
// their level, with the plugin's name and their attributes as fields.
func TestSlogIntoZerolog(t *testing.T) {
	var buf bytes.Buffer
	zl := zerolog.New(&buf).Level(zerolog.DebugLevel).With().Str("plugin", "text").Logger()
	log := slogFor(zl)

	log.Debug("debug line")
	log.Log(context.Background(), slog.LevelDebug-4, "trace line") // below the logger's level: dropped
	log.Info("info line", "addr", "127.0.0.1:7001", "n", 3)
	log.Warn("warn line", "err", errors.New("boom"))
	log.With("conn", 7).WithGroup("req").With("id", "a1").Error("error line",
		"topic", "x.y", slog.Group("", "inlined", true), slog.Group("empty"))
	log.WithGroup("g").Info("grouped", slog.Group("sub", "k", "v"))

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if m["plugin"] != "text" {
			t.Fatalf("no plugin field: %v", m)
		}
		lines = append(lines, m)
	}
	want := []struct {
		level, msg string
		fields     string // the other fields, as JSON
	}{
		{"debug", "debug line", `{}`},
		{"info", "info line", `{"addr":"127.0.0.1:7001","n":3}`},
		{"warn", "warn line", `{"err":"boom"}`},
		{"error", "error line", `{"conn":7,"req":{"id":"a1","topic":"x.y","inlined":true}}`},
		{"info", "grouped", `{"g":{"sub":{"k":"v"}}}`},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		m := lines[i]
		if m["level"] != w.level || m["message"] != w.msg {
			t.Errorf("line %d: %v", i, m)
		}
		delete(m, "level")
		delete(m, "message")
		delete(m, "plugin")
		var f map[string]any
		json.Unmarshal([]byte(w.fields), &f)
		got, _ := json.Marshal(m)
		exp, _ := json.Marshal(f)
		if !bytes.Equal(got, exp) {
			t.Errorf("line %d fields: %s, want %s", i, got, exp)
		}
	}
}
