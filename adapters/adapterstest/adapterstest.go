// Package adapterstest starts a real broker with its native adapters on
// loopback ports, for tests in any package.
package adapterstest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/broker"
)

// Config is what a test may change; zero values are fine.
type Config struct {
	Broker broker.Options
	Engine adapters.Options
	TCP    tcp.Options // Addr defaults to 127.0.0.1:0
}

// Server is a running broker with a TCP listener.
type Server struct {
	B    *broker.Broker
	URL  string // tcp://127.0.0.1:port (tls:// with TLS)
	Addr string // 127.0.0.1:port

	tb     testing.TB
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
	if cfg.TCP.Addr == "" {
		cfg.TCP.Addr = "127.0.0.1:0"
	}
	a := tcp.New(e, cfg.TCP)
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.Listen(ctx); err != nil {
		cancel()
		tb.Fatalf("listen: %v", err)
	}
	scheme := "tcp://"
	if cfg.TCP.TLS != nil {
		scheme = "tls://"
	}
	addr := a.Addr().String()
	s := &Server{B: b, URL: scheme + addr, Addr: addr, tb: tb, cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := a.Serve(ctx); err != nil {
			tb.Errorf("tcp serve: %v", err)
		}
	}()
	tb.Cleanup(s.Stop)
	return s
}

// Stop closes every connection at once and waits for the adapter to end.
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
