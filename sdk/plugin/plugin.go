// Package plugin is what protocol code imports. A protocol owns a listener
// and a wire protocol of its own, and turns each of its clients into a
// broker session. It implements Plugin, and runs one of two ways, chosen
// by the broker's configuration:
//
//   - as a plugin: a separate program that the broker starts, which calls
//     Serve from main (crash isolation, its own binary):
//
//     func main() { plugin.Serve(myProtocol{}) }
//
//   - linked into the broker, which calls the protocol's Serve with a Host
//     from NewHost: no process, no gRPC, sessions through memory.
//
// Each client session is an ordinary *sdk.Conn, opened with Host.Connect:
// Publish, Subscribe, QueueSubscribe, Request, PublishAck and the rest work
// exactly as for a Go client, and the broker authenticates, limits and
// counts plugin sessions like any other. No gRPC or protobuf shows here.
package plugin

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/msgtrans/msgtrans/plugins/pluginpb"
)

// Plugin is a protocol, served by a plugin process or linked into the
// broker.
type Plugin interface {
	// Serve runs the protocol until ctx ends: it listens (typically on an
	// address from h.Setting), calls h.Ready once clients can connect, and
	// opens a broker session with h.Connect for each client. When ctx ends
	// it closes its listener and its clients' sessions and returns.
	Serve(ctx context.Context, h *Host) error
}

// Serve runs p as a plugin of the broker and never returns. Started by
// hand rather than by the broker, it explains that and exits.
func Serve(p Plugin) {
	// go-plugin replaces os.Stderr once it serves; the broker reads the
	// process's real stderr, so the logger keeps it.
	log := newLogger(os.Stderr)
	go watchParent(log)
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: pluginpb.Handshake,
		Plugins: goplugin.PluginSet{pluginpb.Name: &pluginpb.GRPCPlugin{
			NewServer: func(b *goplugin.GRPCBroker) pluginpb.PluginServer {
				return &server{p: p, broker: b, log: log}
			},
		}},
		GRPCServer: goplugin.DefaultGRPCServer,
	})
	os.Exit(0)
}

// watchParent ends the plugin when the broker that started it is gone,
// even if it was killed without a chance to stop its plugins.
func watchParent(log *slog.Logger) {
	ppid := os.Getppid()
	for range time.Tick(500 * time.Millisecond) {
		if os.Getppid() != ppid {
			log.Error("broker process is gone; exiting")
			os.Exit(1)
		}
	}
}

// newLogger writes JSON lines in the shape go-plugin recognizes, so that
// the broker re-logs each line at its level with the plugin's name.
func newLogger(w *os.File) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				return slog.String("@level", strings.ToLower(a.Value.String()))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			}
			return a
		},
	}))
}
