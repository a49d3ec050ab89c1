package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"strings"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/quic"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/adapters/ws"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/plugins"
)

// buildListeners creates an adapter for each enabled transport.
func buildListeners(cfg Config, e *adapters.Engine, b *broker.Broker, log zerolog.Logger, ts *tlsSet) ([]adapters.Listener, error) {
	var ls []adapters.Listener
	mqttWS := make(chan net.Conn)
	if cfg.TCP.Listen != "" {
		t, err := ts.serverTLS(cfg.TCP.TLS, "tcp.tls", nil)
		if err != nil {
			return nil, err
		}
		ls = append(ls, tcp.New(e, tcp.Options{
			Addr:           cfg.TCP.Listen,
			TLS:            t,
			DisableNoDelay: !cfg.TCP.NoDelay,
			KeepAlive:      cfg.TCP.KeepAlive,
			Logger:         log.With().Str("adapter", "tcp").Logger(),
		}))
	}
	if cfg.WS.Listen != "" {
		t, err := ts.serverTLS(cfg.WS.TLS, "ws.tls", nil)
		if err != nil {
			return nil, err
		}
		ls = append(ls, ws.New(e, ws.Options{
			Addr:           cfg.WS.Listen,
			Path:           cfg.WS.Path,
			AllowedOrigins: cfg.WS.AllowedOrigins,
			TLS:            t,
			KeepAlive:      cfg.WS.KeepAlive,
			Logger:         log.With().Str("adapter", "ws").Logger(),
			Routes:         mqttRoutes(cfg, mqttWS),
		}))
	}
	if cfg.QUIC.Listen != "" {
		qlog := log.With().Str("adapter", "quic").Logger()
		var fallback *tls.Certificate
		if cfg.QUIC.TLS.CertFile == "" {
			cert, created, err := quic.LoadOrCreateCert(cfg.DataDir)
			if err != nil {
				return nil, fmt.Errorf("quic.tls: %w", err)
			}
			verb := "loaded"
			if created {
				verb = "generated"
			}
			qlog.Info().Str("sha256", quic.Fingerprint(cert)).Str("dir", cfg.DataDir).
				Msgf("%s self-signed QUIC certificate; clients trust it with sdk.PinnedCertSHA256", verb)
			fallback = &cert
		}
		t, err := ts.serverTLS(cfg.QUIC.TLS, "quic.tls", fallback)
		if err != nil {
			return nil, err
		}
		ls = append(ls, quic.New(e, quic.Options{
			Addr:            cfg.QUIC.Listen,
			TLS:             t,
			KeepAlivePeriod: cfg.QUIC.KeepAlivePeriod,
			MaxIdleTimeout:  cfg.QUIC.MaxIdleTimeout,
			Logger:          qlog,
		}))
	}
	if cfg.mqttEnabled() {
		l, err := mqttListener(cfg, e, mqttWS, ts, plugins.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	for _, pc := range cfg.Plugins {
		// validate() checked that a builtin protocol exists.
		r, err := plugins.New(plugins.Config{
			Name: pc.Name, Path: pc.Path, Args: pc.Args, SHA256: pc.SHA256, Settings: pc.Settings,
			Protocol: builtinProtocols()[pc.Builtin],
		}, e, plugins.Options{Logger: log, Events: b})
		if err != nil {
			return nil, err
		}
		if pc.Optional {
			ls = append(ls, optional{r, log.With().Str("plugin", pc.Name).Logger()})
		} else {
			ls = append(ls, r)
		}
	}
	return ls, nil
}

// optional is a plugin whose failure to start is reported, not fatal.
type optional struct {
	*plugins.Runner
	log zerolog.Logger
}

func (o optional) Listen(ctx context.Context) error {
	if err := o.Runner.Listen(ctx); err != nil {
		o.log.Error().Err(err).Msg("optional plugin failed to start; going on without it")
	}
	return nil
}

func (o optional) Serve(ctx context.Context) error {
	if !o.Runner.Running() {
		return nil // it did not start
	}
	return o.Runner.Serve(ctx)
}

// stdlogWriter routes the standard library's log package, which quic-go
// uses for its one-time UDP buffer size hint, into the broker's log.
type stdlogWriter struct{ log zerolog.Logger }

func (w stdlogWriter) Write(p []byte) (int, error) {
	w.log.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

func redirectStdlog(l zerolog.Logger) {
	log.SetFlags(0)
	log.SetOutput(stdlogWriter{l.With().Str("source", "stdlib").Logger()})
}
