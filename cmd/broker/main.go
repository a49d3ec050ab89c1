// Command broker runs the msgtrans broker as a service.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/auth"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/boltstore"
	"github.com/msgtrans/msgtrans/monitor"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	// Durations are logged as Go durations ("10s", "1m30s"): zerolog's
	// default, a bare number of milliseconds, reads as a count.
	zerolog.DurationFieldFormat = zerolog.DurationFormatString
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	cfg, showVersion, err := loadConfig(args, stderr)
	if showVersion {
		fmt.Fprintln(os.Stdout, "msgtrans broker", version)
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0 // the flag package printed the usage
	}
	if err != nil {
		fmt.Fprintf(stderr, "broker: %v\n", err)
		return 2
	}
	level := new(atomic.Int32)
	log := newLogger(cfg.Log, stderr, level)
	redirectStdlog(log)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)

	srv, err := start(cfg, log)
	if err != nil {
		log.Error().Err(err).Msg("start failed")
		return 1
	}
	srv.reload.setSource(args, cfg, level)
wait:
	for {
		select {
		case <-hups:
			if err := srv.Reload(); err != nil {
				log.Error().Err(err).Msg("reload refused; the configuration in force is kept")
			}
		case sig := <-sigs:
			log.Info().Str("signal", sig.String()).Dur("deadline", cfg.Shutdown.DrainTimeout).Msg("draining; a second signal exits at once")
			break wait
		case err := <-srv.failed:
			log.Error().Err(err).Msg("listener failed; shutting down")
			break wait
		}
	}
	done := make(chan struct{})
	go func() {
		srv.stop(cfg.Shutdown.DrainTimeout)
		close(done)
	}()
	select {
	case <-done:
		log.Info().Msg("stopped")
		return 0
	case sig := <-sigs:
		log.Warn().Str("signal", sig.String()).Msg("second signal: exiting now")
		return 1
	}
}

// newLogger builds the service's logger. Its level is held in level, which
// a reload changes (see levelWriter).
func newLogger(c LogConfig, w io.Writer, lvl *atomic.Int32) zerolog.Logger {
	level, err := zerolog.ParseLevel(strings.ToLower(c.Level))
	if err != nil || level == zerolog.NoLevel {
		level = zerolog.InfoLevel // validate() already rejected bad values
	}
	f, ok := w.(*os.File)
	tty := ok && isatty.IsTerminal(f.Fd())
	format := c.Format
	if format == "" {
		format = "json"
		if tty {
			format = "console"
		}
	}
	if format == "console" {
		// Colours are terminal escapes: in a file or a journal they are noise.
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !tty}
	}
	lvl.Store(int32(level))
	return zerolog.New(levelWriter{w, lvl}).Level(zerolog.TraceLevel).With().Timestamp().Logger()
}

// server is the running service.
type server struct {
	log    zerolog.Logger
	b      *broker.Broker
	lock   *os.File
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed chan error
	reload reloader
	// cluster links the broker to others over Redis (nil: a single node);
	// cluster.Err is its health, cluster.Stats its counters.
	cluster *clusterLink
	rdb     *redis.Client
}

func start(cfg Config, log zerolog.Logger) (*server, error) {
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	authz, err := newAuthorizer(cfg, nil)
	if err != nil {
		lock.Close()
		return nil, err
	}
	warnPlainText(log, cfg)
	live := auth.NewLive(authz)
	sec := newSecLog(log)
	rdb, store, err := openClusterStore(cfg)
	if err != nil {
		lock.Close()
		return nil, err
	}
	if store == nil {
		store, err = openRetained(cfg, log)
	}
	if err != nil {
		lock.Close()
		return nil, err
	}
	// Failures that can come once per message (a full disk) are logged a
	// few at a time, not per message.
	sampled := log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second})
	budget := memoryBudget(cfg.Limits.MaxMemory)
	applyMemoryLimit(budget, log)
	mon := &monitored{}
	acks := monitor.TimeAcks(store)
	mon.health.Add("retained store", storeHealth(store))
	b, err := broker.New(broker.Options{
		MaxConnections:           cfg.Limits.MaxConnections,
		MaxPayload:               int(cfg.Limits.MaxPayload),
		MaxSubscriptions:         cfg.Limits.MaxSubscriptions,
		MaxSubscriptionsPerTopic: cfg.Limits.MaxSubsPerTopic,
		MaxPending:               int(cfg.Limits.MaxPending),
		MaxMemory:                clientShare(budget),
		Retained:                 acks,
		Authenticator:            live,
		OnEvent:                  func(e broker.Event) { logEvent(log, sampled, e); mon.observe(e); sec.event(e) },
	})
	if err != nil {
		store.Close()
		lock.Close()
		return nil, err
	}
	s := &server{log: log, b: b, lock: lock, failed: make(chan error, 1), rdb: rdb}
	s.reload.auth, s.reload.tls = live, newTLSSet()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if rdb != nil {
		if s.cluster, err = startCluster(cfg, rdb, b, log); err != nil {
			s.abort()
			return nil, err
		}
		mon.health.Add("cluster", s.cluster.Err)
		mon.metrics = append(mon.metrics, clusterCollector{s.cluster})
	}
	log.Info().Str("version", version).Str("server_id", b.ID()).Str("data_dir", cfg.DataDir).Msg("msgtrans broker starting")

	engine, err := adapters.NewEngine(b, adapters.Options{
		HandshakeTimeout: cfg.Sessions.HandshakeTimeout,
		PingInterval:     cfg.Sessions.PingInterval,
		DeadPeerTimeout:  cfg.Sessions.DeadPeerTimeout,
		WriteTimeout:     cfg.Sessions.WriteTimeout,
		FrameTimeout:     cfg.Sessions.FrameTimeout,
		MaxFrame:         int(cfg.Sessions.MaxFrame),
	}, version)
	if err != nil {
		s.abort()
		return nil, fmt.Errorf("sessions: %w", err)
	}
	listeners, err := buildListeners(cfg, engine, b, log, s.reload.tls)
	if err != nil {
		s.abort()
		return nil, err
	}
	listeners = mon.track(listeners)
	if len(listeners) == 0 {
		log.Warn().Msg("no listener enabled: only in-process clients can connect")
	}
	for _, l := range listeners {
		if err := l.Listen(ctx); err != nil {
			s.abort()
			return nil, err
		}
		s.serve(ctx, l.Serve)
	}
	httpSrv, err := newMonitor(cfg, b, mon, acks, s.reload.tls, s.reloadOverHTTP, log)
	if err == nil && httpSrv != nil {
		err = httpSrv.Listen(ctx)
	}
	if err != nil {
		s.abort()
		return nil, err
	}
	if httpSrv != nil {
		s.serve(ctx, httpSrv.Serve)
	}
	return s, nil
}

func (s *server) serve(ctx context.Context, fn func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(ctx); err != nil {
			select {
			case s.failed <- err:
			default:
			}
		}
	}()
}

// stop drains the broker within timeout, then stops the listeners and
// closes what is left.
func (s *server) stop(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.b.Shutdown(ctx); err != nil {
		s.log.Warn().Err(err).Int("sessions_left", s.b.Stats().Connections).Msg("drain deadline reached; closing the rest")
	}
	s.cluster.stop()
	s.cancel()
	s.wg.Wait()
	s.b.Close()
	s.closeRedis()
	s.lock.Close()
}

func (s *server) abort() {
	s.cluster.stop()
	s.cancel()
	s.wg.Wait()
	s.b.Close()
	s.closeRedis()
	s.lock.Close()
}

func (s *server) closeRedis() {
	if s.rdb != nil {
		s.rdb.Close()
	}
}

func logEvent(log, sampled zerolog.Logger, e broker.Event) {
	si := e.Session
	switch e.Kind {
	case broker.SessionOpened:
		log.Debug().Uint64("session", si.ID).Str("protocol", si.Protocol).Str("remote", si.RemoteAddr).
			Str("name", si.Name).Msg("session opened")
	case broker.SessionClosed:
		ev := log.Debug()
		if errors.Is(e.Reason, broker.ErrSlowConsumer) {
			ev = log.Warn()
		}
		ev.Uint64("session", si.ID).Str("protocol", si.Protocol).Str("remote", si.RemoteAddr).
			Str("name", si.Name).AnErr("reason", e.Reason).Msg("session closed")
	case broker.StoreFailed:
		sampled.Error().Uint64("session", si.ID).Str("remote", si.RemoteAddr).AnErr("reason", e.Reason).
			Msg("retained store failed; the publisher was told (logged at most 5 times per 10s)")
	}
}

// openRetained opens the configured retained-message store.
func openRetained(cfg Config, log zerolog.Logger) (broker.RetainedStore, error) {
	if cfg.Retained.Store == "memory" {
		log.Info().Msg("retained messages are kept in memory only: they do not survive a restart")
		return broker.NewMemoryStore(cfg.Retained.MaxMessages, int(cfg.Retained.MaxBytes)), nil
	}
	path := filepath.Join(cfg.DataDir, "retained.db")
	s, err := boltstore.Open(path, boltstore.Options{MaxMessages: cfg.Retained.MaxMessages, MaxBytes: int(cfg.Retained.MaxBytes)})
	if err != nil {
		return nil, fmt.Errorf("retained store: %w", err)
	}
	log.Info().Str("path", path).Int("messages", s.Len()).Msg("retained messages loaded")
	return s, nil
}

// lockDataDir creates the data directory and takes an exclusive lock in
// it, so that two brokers never share one data directory.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	path := filepath.Join(dir, "broker.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data_dir %s is in use by another broker (lock %s held)", dir, path)
		}
		return nil, fmt.Errorf("data_dir: lock %s: %w", path, err)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}
