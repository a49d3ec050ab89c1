// Package adapterstest starts a real broker with its native adapters (TCP,
// WebSocket, QUIC) on loopback ports, for tests in any package.
package adapterstest

import (
	"context"
	"crypto/tls"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/quic"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/adapters/ws"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// Config is what a test may change; zero values are fine. Addresses
// default to 127.0.0.1:0.
type Config struct {
	Broker broker.Options
	Engine adapters.Options
	TCP    tcp.Options
	WS     ws.Options
	QUIC   quic.Options // TLS defaults to a self-signed certificate
}

// Server is a running broker with TCP, WebSocket and QUIC listeners.
type Server struct {
	B *broker.Broker

	URL     string // tcp://127.0.0.1:port (tls:// with TLS)
	Addr    string // the TCP listener's 127.0.0.1:port
	WSURL   string // ws://127.0.0.1:port/ws (wss:// with TLS)
	WSAddr  string
	QUICURL string // quic://127.0.0.1:port
	// CertSHA256 is the fingerprint of the QUIC certificate, for
	// sdk.PinnedCertSHA256.
	CertSHA256 string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Start starts a broker; it is stopped when the test ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	b, err := broker.New(cfg.Broker)
	if err != nil {
		tb.Fatalf("broker.New: %v", err)
	}
	e, err := adapters.NewEngine(b, cfg.Engine, "test")
	if err != nil {
		tb.Fatalf("adapters.NewEngine: %v", err)
	}
	for _, a := range []*string{&cfg.TCP.Addr, &cfg.WS.Addr, &cfg.QUIC.Addr} {
		if *a == "" {
			*a = "127.0.0.1:0"
		}
	}
	s := &Server{B: b}
	if cfg.QUIC.TLS == nil {
		cert, _, err := quic.LoadOrCreateCert(tb.TempDir())
		if err != nil {
			tb.Fatalf("quic certificate: %v", err)
		}
		cfg.QUIC.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	s.CertSHA256 = quic.Fingerprint(cfg.QUIC.TLS.Certificates[0])
	ta, wa, qa := tcp.New(e, cfg.TCP), ws.New(e, cfg.WS), quic.New(e, cfg.QUIC)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, l := range []adapters.Listener{ta, wa, qa} {
		if err := l.Listen(ctx); err != nil {
			cancel()
			tb.Fatalf("listen: %v", err)
		}
	}
	s.Addr = ta.Addr().String()
	s.URL = scheme("tcp", "tls", cfg.TCP.TLS) + s.Addr
	s.WSAddr = wa.Addr().String()
	path := cfg.WS.Path
	if path == "" {
		path = wire.DefaultWebSocketPath
	}
	s.WSURL = scheme("ws", "wss", cfg.WS.TLS) + s.WSAddr + path
	s.QUICURL = "quic://" + qa.Addr().String()
	for _, l := range []adapters.Listener{ta, wa, qa} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := l.Serve(ctx); err != nil {
				tb.Errorf("serve: %v", err)
			}
		}()
	}
	tb.Cleanup(s.Stop)
	return s
}

func scheme(plain, secure string, t *tls.Config) string {
	if t != nil {
		return secure + "://"
	}
	return plain + "://"
}

// Stop closes every connection at once and waits for the adapters to end.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.B.Close()
	})
}

// Drain shuts the broker down gracefully within d, then stops.
func (s *Server) Drain(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := s.B.Shutdown(ctx)
	s.Stop()
	return err
}

// HeapProfiler writes heap profiles for a benchmark of idle sessions when
// the environment variable IDLE_HEAP_PROFILE names a file: Start samples
// every allocation of 64 bytes and more from then on (until the returned
// function), Write writes the profile, for go tool pprof.
type HeapProfiler struct{ name string }

// StartHeapProfile begins sampling if IDLE_HEAP_PROFILE is set; call the
// result's Stop when done (deferred).
func StartHeapProfile() *HeapProfiler {
	p := &HeapProfiler{name: os.Getenv("IDLE_HEAP_PROFILE")}
	if p.name != "" {
		runtime.MemProfileRate = 64
	}
	return p
}

// Stop puts Go's default sampling back.
func (p *HeapProfiler) Stop() {
	if p.name != "" {
		runtime.MemProfileRate = 512 * 1024
	}
}

// Write writes the profile of what is live now, if one was asked for.
func (p *HeapProfiler) Write(tb testing.TB) {
	if p.name == "" {
		return
	}
	f, err := os.Create(p.name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		tb.Fatal(err)
	}
}
