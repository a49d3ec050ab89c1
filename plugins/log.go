package plugins

import (
	"bytes"
	"encoding/json"
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
