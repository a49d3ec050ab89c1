package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// hclogFor returns the hclog.Logger go-plugin wants, writing into the
// broker's zerolog logger: go-plugin re-logs each line of the plugin's
// stderr through it, at the level the plugin gave the line.
func hclogFor(log zerolog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Output:     zerologWriter{log},
		JSONFormat: true,
		Level:      hclog.Trace, // zerolog's level decides what is kept
	})
}

// zerologWriter turns hclog's JSON lines into zerolog events.
type zerologWriter struct{ log zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		var fields map[string]any
		if json.Unmarshal(line, &fields) != nil {
			w.log.Info().Msg(string(line))
			continue
		}
		level, _ := fields["@level"].(string)
		msg, _ := fields["@message"].(string)
		ev := w.log.WithLevel(hclogLevel(level))
		for k, v := range fields {
			switch k {
			case "@level", "@message", "@timestamp", "@caller", "timestamp":
				// zerolog adds its own time.
			case "@module":
				// go-plugin names the plugin's own lines after its binary; the
				// plugin field already says whose they are.
			case "plugin", "path":
				// go-plugin's own lines name the binary; keep the plugin
				// field for the configured name.
				ev = ev.Interface("binary", v)
			default:
				ev = ev.Interface(strings.TrimPrefix(k, "@"), v)
			}
		}
		ev.Msg(msg)
	}
	return len(p), nil
}

func hclogLevel(l string) zerolog.Level {
	switch l {
	case "trace":
		return zerolog.TraceLevel
	case "debug":
		return zerolog.DebugLevel
	case "warn":
		return zerolog.WarnLevel
	case "error":
		return zerolog.ErrorLevel
	}
	return zerolog.InfoLevel
}

// slogFor returns the slog.Logger a linked protocol logs to: each record
// becomes an event of log at its level, with its attributes as fields,
// as a plugin process's JSON lines do through zerologWriter.
func slogFor(log zerolog.Logger) *slog.Logger { return slog.New(&slogHandler{log: log}) }

// slogHandler is a slog.Handler writing into a zerolog.Logger.
type slogHandler struct {
	log    zerolog.Logger
	pre    []scopedAttrs // from WithAttrs
	groups []string      // from WithGroup, open for the record's attributes
}

// scopedAttrs are attributes given to WithAttrs inside groups.
type scopedAttrs struct {
	groups []string
	attrs  []slog.Attr
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	lv := slogLevel(l)
	return lv >= h.log.GetLevel() && lv >= zerolog.GlobalLevel()
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	fields := map[string]any{}
	for _, s := range h.pre {
		putAttrs(fields, s.groups, s.attrs)
	}
	attrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	putAttrs(fields, h.groups, attrs)
	h.log.WithLevel(slogLevel(r.Level)).Fields(fields).Msg(r.Message)
	return nil
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	c := *h
	c.pre = append(slices.Clip(h.pre), scopedAttrs{groups: h.groups, attrs: attrs})
	return &c
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups = append(slices.Clip(h.groups), name)
	return &c
}

// putAttrs puts attrs into fields under the nested groups, following
// slog's rules: an empty key inlines a group and drops anything else, and
// an empty group is dropped.
func putAttrs(fields map[string]any, groups []string, attrs []slog.Attr) {
	for _, g := range groups {
		sub, ok := fields[g].(map[string]any)
		if !ok {
			sub = map[string]any{}
			fields[g] = sub
		}
		fields = sub
	}
	for _, a := range attrs {
		v := a.Value.Resolve()
		switch {
		case v.Kind() == slog.KindGroup:
			if len(v.Group()) == 0 {
				continue
			}
			if a.Key == "" {
				putAttrs(fields, nil, v.Group())
				continue
			}
			putAttrs(fields, []string{a.Key}, v.Group())
		case a.Key == "":
		default:
			fields[a.Key] = slogValue(v)
		}
	}
}

// slogValue is what zerolog writes for v: an error as its text, as slog's
// JSON handler in a plugin process does.
func slogValue(v slog.Value) any {
	if err, ok := v.Any().(error); ok && v.Kind() == slog.KindAny {
		return err.Error()
	}
	return v.Any()
}

func slogLevel(l slog.Level) zerolog.Level {
	switch {
	case l < slog.LevelDebug:
		return zerolog.TraceLevel
	case l < slog.LevelInfo:
		return zerolog.DebugLevel
	case l < slog.LevelWarn:
		return zerolog.InfoLevel
	case l < slog.LevelError:
		return zerolog.WarnLevel
	}
	return zerolog.ErrorLevel
}
