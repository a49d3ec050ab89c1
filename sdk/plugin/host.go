package plugin

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"sync"

	"github.com/msgtrans/msgtrans/sdk"
)

// ErrStopped is returned by Connect once the plugin is stopping.
var ErrStopped = errors.New("plugin: stopping")

// Host is the protocol's handle on the broker. It is the same whether the
// protocol runs as a plugin process (Serve) or linked into the broker
// (NewHost); only how a session reaches the broker differs.
type Host struct {
	name      string
	settings  map[string]string
	log       *slog.Logger
	b         backend
	readyOnce sync.Once
}

// backend is how a Host reaches the broker.
type backend interface {
	// open starts one session: a byte stream carrying the native protocol
	// to the broker's session engine.
	open(ctx context.Context, p Peer) (sdk.Transport, error)
	// ready tells the broker that the protocol accepts clients. The Host
	// calls it once.
	ready(status string)
}

func newHost(name string, settings map[string]string, log *slog.Logger, b backend) *Host {
	return &Host{name: name, settings: settings, log: log, b: b}
}

// HostConfig is what the broker gives a protocol linked into it.
type HostConfig struct {
	Name     string            // the protocol's name in the broker's configuration
	Settings map[string]string // the protocol's settings from the broker's configuration
	Logger   *slog.Logger      // nil: the protocol's log lines are dropped
	// Dial opens one session: a byte stream carrying the native protocol
	// (docs/protocol.md) to the broker's session engine. p is the
	// protocol's client: its address for the broker's logs and stats, and
	// its TLS state for the broker's authorizer. Connect calls it.
	Dial func(ctx context.Context, p Peer) (sdk.Transport, error)
	// Ready is called when the protocol first calls Host.Ready; nil: not
	// reported.
	Ready func(status string)
}

// NewHost returns the Host of a protocol linked into the broker, which
// passes it to the protocol's Serve. A plugin binary does not call it:
// Serve makes its Host.
func NewHost(c HostConfig) *Host {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return newHost(c.Name, maps.Clone(c.Settings), log, linked{c.Dial, c.Ready})
}

// linked is the backend of a Host in the broker's own process.
type linked struct {
	dial    func(ctx context.Context, p Peer) (sdk.Transport, error)
	readyFn func(status string)
}

func (l linked) open(ctx context.Context, p Peer) (sdk.Transport, error) {
	return l.dial(ctx, p)
}

func (l linked) ready(status string) {
	if l.readyFn != nil {
		l.readyFn(status)
	}
}

// Name returns the plugin's name in the broker's configuration.
func (h *Host) Name() string { return h.name }

// Setting returns the value of key in the plugin's settings, or def.
func (h *Host) Setting(key, def string) string {
	if v, ok := h.settings[key]; ok {
		return v
	}
	return def
}

// Settings returns a copy of all the plugin's settings.
func (h *Host) Settings() map[string]string {
	m := make(map[string]string, len(h.settings))
	maps.Copy(m, h.settings)
	return m
}

// Logger returns a logger whose lines appear in the broker's log, with the
// plugin's name, at their level.
func (h *Host) Logger() *slog.Logger { return h.log }

// Ready tells the broker that the plugin accepts clients; status (such as
// the listen address) goes into the broker's log. Calls after the first
// are ignored.
func (h *Host) Ready(status string) {
	h.readyOnce.Do(func() { h.b.ready(status) })
}

// Connect opens a broker session for one client of the plugin. remoteAddr
// is the client's address for the broker's logs and stats; opts are sdk
// options such as sdk.Name, sdk.Token, sdk.UserInfo and sdk.NoEcho (the
// broker authenticates the session with them). Reconnecting does not
// apply: a session ends with its client or with the broker.
func (h *Host) Connect(ctx context.Context, remoteAddr string, opts ...sdk.Option) (*sdk.Conn, error) {
	return h.ConnectPeer(ctx, Peer{RemoteAddr: remoteAddr}, opts...)
}

// Peer is how a protocol's client reached it, as far as the broker's
// authorizer cares.
type Peer struct {
	RemoteAddr string
	// TLS is the client's TLS state once its handshake is done, with the
	// certificates it presented: a protocol linked into the broker passes
	// it on, so that a listener's map_identity can log the client in by
	// its certificate. A plugin process's TLS state does not cross to the
	// broker (a plugin's claim about a certificate is not proof of one).
	TLS *tls.ConnectionState
}

// PeerOf describes c: its remote address and, for a *tls.Conn whose
// handshake is done, its TLS state.
func PeerOf(c net.Conn) Peer {
	var p Peer
	if a := c.RemoteAddr(); a != nil {
		p.RemoteAddr = a.String()
	}
	if tc, ok := c.(*tls.Conn); ok {
		if st := tc.ConnectionState(); st.HandshakeComplete {
			p.TLS = &st
		}
	}
	return p
}

// ConnectPeer is Connect for a client described by p, TLS state included.
func (h *Host) ConnectPeer(ctx context.Context, p Peer, opts ...sdk.Option) (*sdk.Conn, error) {
	dial := func(ctx context.Context, _ *url.URL) (sdk.Transport, error) { return h.b.open(ctx, p) }
	opts = append(opts, sdk.CustomDialer(dial), sdk.MaxReconnects(0))
	return sdk.Connect("plugin://"+h.name, opts...)
}
