// Package ws serves the native protocol over WebSocket (RFC 6455): one
// protocol frame per binary message, through the shared session engine.
package ws

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"

	gws "github.com/gobwas/ws"
	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/wire"
)

// Subprotocol is the WebSocket subprotocol name of the native protocol.
const Subprotocol = wire.Subprotocol

// Options configures the WebSocket adapter.
type Options struct {
	// Addr is the listen address, host:port.
	Addr string
	// Path is the URL path that upgrades; other paths get 404. Default
	// wire.DefaultWebSocketPath.
	Path string
	// AllowedOrigins lists the Origin header values accepted
	// (scheme://host[:port]), or AnyOrigin. Empty accepts a page from the
	// host the broker is reached at (see originAllowed). A request without
	// Origin (not from a browser) is accepted; one with another origin gets
	// 403.
	AllowedOrigins []string
	// TLS, when set, makes the listener accept TLS only (wss:// URLs).
	TLS *tls.Config
	// KeepAlive is the TCP keep-alive period: 0 uses
	// adapters.DefaultTCPKeepAlive, negative turns it off.
	KeepAlive time.Duration
	// Logger receives the adapter's lines. The zero value logs nothing.
	Logger zerolog.Logger
	// Routes are other paths the listener serves (see Route); Path must
	// not be one of them.
	Routes []Route
}

// Adapter accepts WebSocket connections and runs each through the engine.
type Adapter struct {
	e    *adapters.Engine
	opts Options
	ln   net.Listener
}

// New returns an adapter for e. Call Listen, then Serve.
func New(e *adapters.Engine, opts Options) *Adapter {
	if opts.Path == "" {
		opts.Path = wire.DefaultWebSocketPath
	}
	return &Adapter{e: e, opts: opts}
}

// Listen binds the listen address.
func (a *Adapter) Listen(ctx context.Context) error {
	ln, err := adapters.ListenTCP(ctx, a.opts.Addr, a.opts.KeepAlive, a.opts.TLS)
	if err != nil {
		return fmt.Errorf("ws: listen: %w", err)
	}
	a.ln = ln
	return nil
}

// Addr returns the bound address; nil before Listen.
func (a *Adapter) Addr() net.Addr {
	if a.ln == nil {
		return nil
	}
	return a.ln.Addr()
}

// Serve accepts connections until ctx is cancelled, then closes the listener
// and every connection, and returns once all their goroutines have ended.
func (a *Adapter) Serve(ctx context.Context) error {
	if a.ln == nil {
		if err := a.Listen(ctx); err != nil {
			return err
		}
	}
	scheme := "ws"
	if a.opts.TLS != nil {
		scheme = "wss"
	}
	a.opts.Logger.Info().Str("addr", a.ln.Addr().String()).Str("path", a.opts.Path).Msgf("listening for %s://", scheme)
	// Quiet ws:// sessions park instead of holding a goroutine each (see
	// the TCP adapter).
	poller, err := adapters.NewPoller()
	if err != nil {
		poller = nil
	}
	adapters.AcceptLoop(ctx, a.ln, a.opts.Logger, func(c net.Conn) {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		// The upgrade and the HELLO share the engine's handshake timeout.
		c.SetDeadline(time.Now().Add(a.e.Options().HandshakeTimeout))
		var route *Route
		if _, err := a.upgrader(&route).Upgrade(c); err != nil {
			a.opts.Logger.Debug().Err(err).Str("remote", c.RemoteAddr().String()).Msg("websocket upgrade refused")
			c.Close()
			return
		}
		c.SetDeadline(time.Time{})
		if route != nil {
			route.Serve(ctx, newStream(c, int64(a.e.Options().MaxFrame)))
			return
		}
		// The upgrade read through TLS, so its handshake is done.
		wc := newConn(c, a.e.Options().MaxFrame)
		if poller != nil {
			wc.SetPoller(poller)
		}
		a.e.Serve(ctx, wc, adapters.Peer(scheme, c))
	})
	if poller != nil {
		poller.Close() // once every parked session has ended
	}
	return nil
}

// upgrader upgrades one connection; the request's path chooses the native
// protocol or one of the Routes, which it sets in *route.
func (a *Adapter) upgrader(route **Route) gws.Upgrader {
	// Host and Origin may come in either order: the decision waits for
	// the end of the headers.
	var origin, host string
	var offered bool // the client offered Subprotocol
	return gws.Upgrader{
		Protocol: func(p []byte) bool {
			ok := string(p) == wantProtocol(*route)
			offered = offered || ok
			return ok
		},
		OnRequest: func(uri []byte) error {
			u, err := url.ParseRequestURI(string(uri))
			if err == nil && u.Path == a.opts.Path {
				return nil
			}
			for i := range a.opts.Routes {
				if err == nil && u.Path == a.opts.Routes[i].Path {
					*route = &a.opts.Routes[i]
					return nil
				}
			}
			return gws.RejectConnectionError(gws.RejectionStatus(404), gws.RejectionReason("not found"))
		},
		OnHost: func(h []byte) error {
			host = string(h)
			return nil
		},
		OnHeader: func(key, value []byte) error {
			if bytes.EqualFold(key, []byte("Origin")) {
				origin = string(value)
			}
			return nil
		},
		OnBeforeUpgrade: func() (gws.HandshakeHeader, error) {
			if !originAllowed(a.opts.AllowedOrigins, origin, host) {
				return nil, gws.RejectConnectionError(gws.RejectionStatus(403), gws.RejectionReason("origin not allowed"))
			}
			// Without the subprotocol the upgrade would succeed with none
			// selected, which a browser that offered others aborts (close
			// code 1006, no reason given): say what is missing instead.
			if !offered {
				return nil, gws.RejectConnectionError(gws.RejectionStatus(400),
					gws.RejectionReason("the WebSocket subprotocol "+wantProtocol(*route)+" is required (Sec-WebSocket-Protocol)"))
			}
			return nil, nil
		},
	}
}

// wantProtocol is the subprotocol a request must offer: the native one, or
// its route's.
func wantProtocol(r *Route) string {
	if r != nil {
		return r.Subprotocol
	}
	return Subprotocol
}
