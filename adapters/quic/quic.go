// Package quic serves the native protocol over QUIC: one bidirectional
// stream per connection carries the same frames as a TCP stream, through
// the shared session engine. ALPN "msgtrans/1", TLS 1.3, no 0-RTT.
package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// ALPN is the TLS application protocol a client must offer.
const ALPN = wire.ALPN

// Application close codes sent in CONNECTION_CLOSE.
const (
	CodeClosed   quicgo.ApplicationErrorCode = 0 // the session ended (the reason, if any, went in an ERR frame)
	CodeShutdown quicgo.ApplicationErrorCode = 1 // the broker is stopping
	CodeNoStream quicgo.ApplicationErrorCode = 2 // the client opened no stream in time
)

// Defaults for Options fields left zero.
const (
	DefaultKeepAlive = 15 * time.Second
	DefaultMaxIdle   = 30 * time.Second
	closeLinger      = time.Second
)

// maxStreams is what the protocol uses: one bidirectional stream per
// connection. It is not an option: a stream past the first would be one
// that nobody accepts.
const maxStreams = 1

// Options configures the QUIC adapter.
type Options struct {
	// Addr is the UDP listen address, host:port.
	Addr string
	// TLS holds the server certificate. Required. NextProtos and
	// MinVersion are set by the adapter.
	TLS *tls.Config
	// KeepAlivePeriod is how often PING frames keep an idle connection
	// alive; default 15s (QUIC's own default, none, would drop idle
	// subscribers after MaxIdleTimeout). Negative disables.
	KeepAlivePeriod time.Duration
	// MaxIdleTimeout closes a connection on which nothing arrived for this
	// long; default 30s.
	MaxIdleTimeout time.Duration
	// Logger receives the adapter's lines. The zero value logs nothing.
	Logger zerolog.Logger
}

// Adapter accepts QUIC connections and runs each through the engine.
type Adapter struct {
	e    *adapters.Engine
	opts Options
	udp  *net.UDPConn
	tr   *quicgo.Transport
	ln   *quicgo.Listener
}

// New returns an adapter for e. Call Listen, then Serve.
func New(e *adapters.Engine, opts Options) *Adapter {
	if opts.KeepAlivePeriod == 0 {
		opts.KeepAlivePeriod = DefaultKeepAlive
	}
	if opts.MaxIdleTimeout == 0 {
		opts.MaxIdleTimeout = DefaultMaxIdle
	}
	return &Adapter{e: e, opts: opts}
}

// Listen binds the UDP address and starts the QUIC listener.
func (a *Adapter) Listen(ctx context.Context) error {
	if a.opts.TLS == nil || len(a.opts.TLS.Certificates) == 0 && a.opts.TLS.GetCertificate == nil {
		return errors.New("quic: a TLS certificate is required")
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", a.opts.Addr)
	if err != nil {
		return fmt.Errorf("quic: listen: %w", err)
	}
	a.udp = pc.(*net.UDPConn)
	a.tr = &quicgo.Transport{Conn: a.udp}
	tlsConf := a.opts.TLS.Clone()
	tlsConf.NextProtos = []string{ALPN}
	tlsConf.MinVersion = tls.VersionTLS13
	keepAlive := max(a.opts.KeepAlivePeriod, 0)
	ln, err := a.tr.Listen(tlsConf, &quicgo.Config{
		HandshakeIdleTimeout:  a.e.Options().HandshakeTimeout,
		MaxIdleTimeout:        a.opts.MaxIdleTimeout,
		KeepAlivePeriod:       keepAlive,
		MaxIncomingStreams:    maxStreams,
		MaxIncomingUniStreams: -1,
		Allow0RTT:             false,
	})
	if err != nil {
		a.tr.Close()
		return fmt.Errorf("quic: listen: %w", err)
	}
	a.ln = ln
	return nil
}

// Addr returns the bound UDP address; nil before Listen.
func (a *Adapter) Addr() net.Addr {
	if a.udp == nil {
		return nil
	}
	return a.udp.LocalAddr()
}

// Serve accepts connections until ctx is cancelled. Then every open
// connection is closed with CodeShutdown before the transport goes away, and
// Serve returns once all their goroutines have ended.
func (a *Adapter) Serve(ctx context.Context) error {
	if a.ln == nil {
		if err := a.Listen(ctx); err != nil {
			return err
		}
	}
	a.opts.Logger.Info().Str("addr", a.udp.LocalAddr().String()).Msg("listening for quic://")
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[*quicgo.Conn]struct{}{}
	)
	defer func() {
		mu.Lock()
		for c := range conns {
			c.CloseWithError(CodeShutdown, "server shutting down")
		}
		mu.Unlock()
		wg.Wait()
		a.ln.Close()
		a.tr.Close()
	}()
	for {
		c, err := a.ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("quic: accept: %w", err)
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.serveConn(ctx, c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}

// serveConn takes the client's one stream and runs the session on it.
func (a *Adapter) serveConn(ctx context.Context, c *quicgo.Conn) {
	actx, cancel := context.WithTimeout(ctx, a.e.Options().HandshakeTimeout)
	s, err := c.AcceptStream(actx)
	cancel()
	if err != nil {
		c.CloseWithError(CodeNoStream, "no stream opened")
		return
	}
	fc := adapters.NewStreamConn(&stream{Stream: s, conn: c}, a.e.Options().MaxFrame)
	st := c.ConnectionState().TLS
	a.e.Serve(ctx, fc, broker.Peer{Protocol: "quic", RemoteAddr: c.RemoteAddr().String(), TLS: &st})
}

// stream is a QUIC stream whose Close ends the whole connection, after
// giving the peer a moment to receive what was written last (an ERR frame
// explaining why): closing at once would discard unacknowledged data.
type stream struct {
	*quicgo.Stream
	conn *quicgo.Conn
	once sync.Once
}

func (s *stream) Close() error {
	s.once.Do(func() {
		s.Stream.Close() // FIN after the data already written
		t := time.NewTimer(closeLinger)
		defer t.Stop()
		select {
		case <-s.conn.Context().Done(): // the peer closed on seeing the FIN
		case <-t.C:
		}
		s.Stream.CancelRead(0)
		s.conn.CloseWithError(CodeClosed, "")
	})
	return nil
}
