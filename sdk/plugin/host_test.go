package plugin_test

import (
	"context"
	"errors"
	"testing"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// A linked Host reports Ready once, keeps its own copy of the settings,
// and opens sessions through its Dial.
func TestLinkedHost(t *testing.T) {
	settings := map[string]string{"listen": "127.0.0.1:0"}
	var statuses []string
	errDial := errors.New("no broker here")
	var dialed string
	h := plugin.NewHost(plugin.HostConfig{
		Name:     "text",
		Settings: settings,
		Dial: func(_ context.Context, p plugin.Peer) (sdk.Transport, error) {
			dialed = p.RemoteAddr
			return nil, errDial
		},
		Ready: func(status string) { statuses = append(statuses, status) },
	})
	settings["listen"] = "changed by the broker afterwards"
	if got := h.Setting("listen", ""); got != "127.0.0.1:0" {
		t.Fatalf("Setting: %q", got)
	}
	if got := h.Setting("missing", "def"); got != "def" {
		t.Fatalf("default: %q", got)
	}
	h.Settings()["listen"] = "changed by the protocol"
	if got := h.Setting("listen", ""); got != "127.0.0.1:0" {
		t.Fatalf("Settings returned the Host's own map: %q", got)
	}
	h.Ready("first")
	h.Ready("second")
	if len(statuses) != 1 || statuses[0] != "first" {
		t.Fatalf("Ready reported %q", statuses)
	}
	if _, err := h.Connect(context.Background(), "10.0.0.1:5"); !errors.Is(err, errDial) || dialed != "10.0.0.1:5" {
		t.Fatalf("Connect: %v (dialed %q)", err, dialed)
	}
	h.Logger().Info("a nil Logger in the config drops lines")
	if h.Name() != "text" {
		t.Fatalf("Name %q", h.Name())
	}
}
