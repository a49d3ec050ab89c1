// Package monitor serves the broker's monitoring over HTTP: health
// (/healthz), JSON endpoints in the spirit of nats-server's (/varz,
// /connz, /subsz, /pluginz, and /ratez for charts), Prometheus metrics
// (/metrics), a live dashboard (/), and pprof when asked. It only reads: the broker's own counters are read
// when someone looks, so that publishing and delivering pay nothing for
// being watched.
package monitor

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/plugins"
)

// Plugin is what the endpoint reads of a supervised plugin.
type Plugin interface {
	State() plugins.State
}

// Options configure a Server.
type Options struct {
	Addr string      // host:port to listen on
	TLS  *tls.Config // serve HTTPS when set
	// User and Password, when set, are required of every request (HTTP
	// basic authentication).
	User, Password string
	Pprof          bool // serve /debug/pprof/
	// Reload, when set, is served as POST /reload (the configuration read
	// again, as on SIGHUP), only with User and Password set: changing the
	// broker's configuration takes credentials.
	Reload  func() error
	Version string
	// Config is the configuration summary shown in /varz (listen
	// addresses, limits); the service fills it in.
	Config map[string]any
	// Plugins are the supervised plugins, by name, for /pluginz.
	Plugins []Plugin
	// Health holds the checks of /healthz; nil: a server with no checks,
	// always healthy.
	Health *Health
	// Metrics adds collectors to /metrics beside the broker's (the
	// retained store's ack latency, see TimeAcks).
	Metrics []Collector
	// Sample is how often activity and CPU are sampled; default 1s.
	Sample time.Duration
	Logger zerolog.Logger
}

// Server is the monitoring HTTP listener. It has the Listen/Serve shape
// of the transport adapters.
type Server struct {
	b     *broker.Broker
	opts  Options
	start time.Time
	act   *activity
	mux   *http.ServeMux

	mu sync.Mutex
	ln net.Listener
}

// New returns a server for b; Listen binds it.
func New(b *broker.Broker, opts Options) (*Server, error) {
	if opts.Addr == "" {
		return nil, errors.New("monitor: empty listen address")
	}
	if (opts.User == "") != (opts.Password == "") {
		return nil, errors.New("monitor: user and password must be set together")
	}
	if opts.Sample <= 0 {
		opts.Sample = time.Second
	}
	if opts.Health == nil {
		opts.Health = &Health{}
	}
	s := &Server{b: b, opts: opts, start: time.Now(), act: newActivity(b)}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /varz", s.varz)
	m.HandleFunc("GET /connz", s.connz)
	m.HandleFunc("GET /subsz", s.subsz)
	m.HandleFunc("GET /pluginz", s.pluginz)
	m.HandleFunc("GET /ratez", s.ratez)
	m.Handle("GET /metrics", s.metricsHandler())
	m.HandleFunc("POST /reload", s.reload)
	m.Handle("GET /", dashboard())
	if s.opts.Pprof {
		m.HandleFunc("GET /debug/pprof/", pprof.Index)
		m.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		m.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		m.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		m.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	s.mux = m
}

// ServeHTTP checks the credentials, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.User != "" {
		u, p, ok := r.BasicAuth()
		// Both compared whatever the first gives, in constant time, so
		// that timing tells nothing about either.
		uok := subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.User)) == 1
		pok := subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) == 1
		if !ok || !uok || !pok {
			w.Header().Set("WWW-Authenticate", `Basic realm="msgtrans monitoring", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// Listen binds the address, so that a bad one fails the start.
func (s *Server) Listen(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	scheme := "http"
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
		scheme = "https"
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.opts.Logger.Info().Str("addr", ln.Addr().String()).Bool("auth", s.opts.User != "").Bool("pprof", s.opts.Pprof).
		Msgf("listening for %s://", scheme)
	return nil
}

// Addr returns the bound address, once Listen succeeded.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve answers requests and samples activity until ctx ends; then it
// closes the listener and waits for requests in progress (at most a few
// seconds) and for the sampler.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		if err := s.Listen(ctx); err != nil {
			return err
		}
		ln = s.ln
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
		// What net/http reports on its own is about one client's bad
		// request or failed TLS handshake: debug, not a broker warning.
		ErrorLog: log.New(debugWriter{s.opts.Logger}, "", 0),
	}
	sctx, stopSampler := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.act.run(sctx, s.opts.Sample)
	}()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if hs.Shutdown(shutCtx) != nil {
			hs.Close() // a request still running (a long profile) is cut off
		}
		cancel()
		<-errc
	case err = <-errc:
		err = fmt.Errorf("monitor: %w", err)
	}
	stopSampler()
	wg.Wait()
	return err
}

// debugWriter writes net/http's own messages to the log at debug level.
type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// ObserveEvent records a closed session for /connz?state=closed; the
// service passes it every broker event.
func (s *Server) ObserveEvent(e broker.Event) {
	if e.Kind == broker.SessionClosed {
		s.act.closed(e)
	}
}
