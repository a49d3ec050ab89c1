// Package tcp serves the native protocol over TCP, optionally with TLS.
package tcp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
)

// Options configures the TCP adapter.
type Options struct {
	// Addr is the listen address, host:port.
	Addr string
	// TLS, when set, makes the listener accept TLS only (tls:// URLs).
	TLS *tls.Config
	// DisableNoDelay turns Nagle's algorithm back on (TCP_NODELAY off). The
	// engine already batches writes, so leaving it off trades latency for
	// little.
	DisableNoDelay bool
	// KeepAlive is the TCP keep-alive period: 0 uses
	// adapters.DefaultTCPKeepAlive, negative turns keep-alive off.
	KeepAlive time.Duration
	// Logger receives the adapter's lines. The zero value logs nothing.
	Logger zerolog.Logger
}

// Adapter accepts TCP connections and runs each through the engine.
type Adapter struct {
	e    *adapters.Engine
	opts Options
	ln   net.Listener
}

// New returns an adapter for e. Call Listen, then Serve.
func New(e *adapters.Engine, opts Options) *Adapter {
	return &Adapter{e: e, opts: opts}
}

// Listen binds the listen address, so that errors surface before serving and
// Addr is known (with port 0, the port the system chose).
func (a *Adapter) Listen(ctx context.Context) error {
	ln, err := adapters.ListenTCP(ctx, a.opts.Addr, a.opts.KeepAlive, a.opts.TLS)
	if err != nil {
		return fmt.Errorf("tcp: listen: %w", err)
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
// and every connection still open, and returns once all their goroutines
// have ended.
func (a *Adapter) Serve(ctx context.Context) error {
	if a.ln == nil {
		if err := a.Listen(ctx); err != nil {
			return err
		}
	}
	scheme := "tcp"
	if a.opts.TLS != nil {
		scheme = "tls"
	}
	a.opts.Logger.Info().Str("addr", a.ln.Addr().String()).Msgf("listening for %s://", scheme)
	// Quiet plain-TCP sessions park on the poller instead of holding a
	// goroutine each (Linux; elsewhere, or if it cannot start, they keep
	// their goroutine).
	poller, err := adapters.NewPoller()
	if err != nil {
		a.opts.Logger.Debug().Err(err).Msg("idle connections keep their goroutines")
		poller = nil
	}
	adapters.AcceptLoop(ctx, a.ln, a.opts.Logger, func(c net.Conn) {
		a.tune(c)
		if tc, ok := c.(*tls.Conn); ok && !a.handshakeTLS(ctx, tc) {
			return
		}
		fc := adapters.NewStreamConn(c, a.e.Options().MaxFrame)
		if poller != nil {
			fc.SetPoller(poller)
		}
		a.e.Serve(ctx, fc, adapters.Peer(scheme, c))
	})
	if poller != nil {
		// Parked sessions were closed with ctx; wait until they end.
		poller.Close()
	}
	return nil
}

// handshakeTLS finishes TLS before the session opens, so that the broker's
// authenticator sees the client's certificate; on failure it closes c.
// (A function of its own, so that its locals are not on the stack of an
// idle session: see adapters' readLoop.)
func (a *Adapter) handshakeTLS(ctx context.Context, c *tls.Conn) bool {
	hctx, cancel := context.WithTimeout(ctx, a.e.Options().HandshakeTimeout)
	err := c.HandshakeContext(hctx)
	cancel()
	if err != nil {
		a.opts.Logger.Debug().Err(err).Str("remote", c.RemoteAddr().String()).Msg("tls handshake failed")
		c.Close()
		return false
	}
	return true
}

func (a *Adapter) tune(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tc, ok := c.(*net.TCPConn); ok && a.opts.DisableNoDelay {
		tc.SetNoDelay(false)
	}
}
