package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/quic"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/adapters/ws"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/monitor"
	"github.com/msgtrans/msgtrans/plugins"
)

// errNotServing is a listener's health while it does not accept clients.
var errNotServing = errors.New("not serving")

// tracked is a transport listener whose state /healthz reports: up from a
// successful Listen until Serve returns.
type tracked struct {
	adapters.Listener
	name string

	mu  sync.Mutex
	up  bool
	err error // why Serve ended, if it did
}

func (t *tracked) Listen(ctx context.Context) error {
	err := t.Listener.Listen(ctx)
	t.mu.Lock()
	t.up, t.err = err == nil, err
	t.mu.Unlock()
	return err
}

func (t *tracked) Serve(ctx context.Context) error {
	err := t.Listener.Serve(ctx)
	t.mu.Lock()
	t.up = false
	t.err = err
	if err == nil {
		t.err = errNotServing
	}
	t.mu.Unlock()
	return err
}

func (t *tracked) health() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.up {
		return nil
	}
	if t.err != nil {
		return t.err
	}
	return errNotServing
}

// addr is the bound address, for /varz.
func (t *tracked) addr() string {
	if a, ok := t.Listener.(interface{ Addr() net.Addr }); ok {
		if na := a.Addr(); na != nil {
			return na.String()
		}
	}
	return ""
}

// monitored is what the service gives the monitoring listener: health
// checks and plugins, gathered while the listeners are built.
type monitored struct {
	health    monitor.Health
	metrics   []monitor.Collector // besides the broker's own: the cluster's, when clustered
	plugins   []monitor.Plugin
	listeners []*tracked
	server    atomic.Pointer[monitor.Server] // set once built, for observe
}

// track wraps the transport listeners so that /healthz sees them, and
// registers a check per listener and per plugin that is not optional.
func (m *monitored) track(ls []adapters.Listener) []adapters.Listener {
	out := make([]adapters.Listener, len(ls))
	for i, l := range ls {
		out[i] = l
		switch l := l.(type) {
		case *plugins.Runner:
			m.plugins = append(m.plugins, l)
			m.health.Add("plugin "+l.Name(), func() error { return pluginHealth(l.State()) })
		case optional:
			// Listed in /pluginz; its failure does not make the broker
			// unhealthy, which is what optional means.
			m.plugins = append(m.plugins, l.Runner)
		default:
			t := &tracked{Listener: l, name: listenerName(l)}
			m.listeners = append(m.listeners, t)
			m.health.Add("listener "+t.name, t.health)
			out[i] = t
		}
	}
	return out
}

func listenerName(l adapters.Listener) string {
	switch l.(type) {
	case *tcp.Adapter:
		return "tcp"
	case *ws.Adapter:
		return "ws"
	case *quic.Adapter:
		return "quic"
	}
	return fmt.Sprintf("%T", l)
}

func pluginHealth(st plugins.State) error {
	if st.State == plugins.StateRunning {
		return nil
	}
	if st.LastErr != "" {
		return fmt.Errorf("%s: %s", st.State, st.LastErr)
	}
	return errors.New(st.State)
}

// observe passes broker events to the monitoring listener once it exists.
func (m *monitored) observe(e broker.Event) {
	if s := m.server.Load(); s != nil {
		s.ObserveEvent(e)
	}
}

// storeHealth is the retained store's health check.
func storeHealth(store broker.RetainedStore) func() error {
	return func() error {
		if h, ok := store.(interface{ Health() error }); ok {
			return h.Health()
		}
		return nil // a memory store has nothing that can go down
	}
}

// newMonitor builds the monitoring listener, or returns nil when
// http.listen is empty.
func newMonitor(cfg Config, b *broker.Broker, m *monitored, acks *monitor.AckTimer, ts *tlsSet, reload func() error, log zerolog.Logger) (*monitor.Server, error) {
	if cfg.HTTP.Listen == "" {
		return nil, nil
	}
	// Its certificate is reloaded on SIGHUP like the listeners'.
	t, err := ts.serverTLS(cfg.HTTP.TLS, "http.tls", nil)
	if err != nil {
		return nil, err
	}
	if cfg.HTTP.exposedWithoutAuth() {
		log.Warn().Str("addr", cfg.HTTP.Listen).Msg("monitoring is reachable from other hosts without a password; set http.user and http.password")
	}
	srv, err := monitor.New(b, monitor.Options{
		Addr: cfg.HTTP.Listen, TLS: t, User: cfg.HTTP.User, Password: cfg.HTTP.Password, Pprof: cfg.HTTP.Pprof, Reload: reload,
		Version: version, Config: configSummary(cfg, m), Plugins: m.plugins, Health: &m.health,
		Metrics: append([]monitor.Collector{acks}, m.metrics...),
		Logger:  log.With().Str("adapter", "http").Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	m.server.Store(srv)
	return srv, nil
}

// configSummary is what /varz shows of the configuration: where clients
// connect (the bound addresses) and the limits they meet.
func configSummary(cfg Config, m *monitored) map[string]any {
	listen := map[string]string{}
	for _, t := range m.listeners {
		listen[t.name] = t.addr()
	}
	names := make([]string, 0, len(m.plugins))
	for _, p := range m.plugins {
		names = append(names, p.State().Name)
	}
	return map[string]any{
		"listen":            listen,
		"plugins":           names,
		"max_connections":   cfg.Limits.MaxConnections,
		"max_payload":       cfg.Limits.MaxPayload,
		"max_subscriptions": cfg.Limits.MaxSubscriptions,
		"max_pending":       cfg.Limits.MaxPending,
		"retained_store":    cfg.Retained.Store,
		"auth":              cfg.Auth.Token != "" || len(cfg.Auth.Users) > 0,
	}
}
