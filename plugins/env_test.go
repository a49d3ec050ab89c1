package plugins_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/plugins"
	"github.com/msgtrans/msgtrans/protocols/text"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// The test environment: a broker running the text protocol one of the two
// ways, and the clients that talk to them.

// backend is one way to run the text protocol: as a plugin process, or
// linked into the broker.
type backend struct {
	name string
	// use sets cfg to run the text protocol; crash, when the test calls
	// it, makes the running protocol die.
	use func(cfg *plugins.Config, crash <-chan struct{})
	// crash kills the running protocol: the process, or the linked Serve
	// returns an error.
	crash func(t *testing.T, e *env)
	// died is what the broker's log says when the protocol died.
	died string
}

func backends() []backend {
	return []backend{
		{
			name: "process",
			use:  func(cfg *plugins.Config, _ <-chan struct{}) { cfg.Path = pluginBin },
			crash: func(t *testing.T, e *env) {
				if err := syscall.Kill(e.r.PID(), syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			},
			died: "plugin process exited",
		},
		{
			name: "linked",
			use: func(cfg *plugins.Config, crash <-chan struct{}) {
				cfg.Protocol = crashable{text.Protocol{}, crash}
			},
			crash: func(t *testing.T, e *env) { e.crashOnce.Do(func() { close(e.crashCh) }) },
			died:  errCrashed.Error(),
		},
	}
}

// forEachBackend runs f as a subtest for each backend.
func forEachBackend(t *testing.T, f func(t *testing.T, be backend)) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) { f(t, be) })
	}
}

var errCrashed = errors.New("crashed on purpose")

// crashable is a linked protocol that fails on demand: when crash is
// closed, its Serve ends the protocol and returns errCrashed, the linked
// counterpart of a plugin process that dies. It crashes once: a restarted
// run serves normally.
type crashable struct {
	p     plugin.Plugin
	crash <-chan struct{}
}

func (c crashable) Serve(ctx context.Context, h *plugin.Host) error {
	select {
	case <-c.crash:
		return c.p.Serve(ctx, h) // crashed before: this is the restart
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- c.p.Serve(ctx, h) }()
	select {
	case err := <-served:
		return err
	case <-c.crash:
		cancel()
		<-served
		return errCrashed
	}
}

type env struct {
	srv  *adapterstest.Server
	r    *plugins.Runner
	logs *testproc.Buffer
	stop func()

	crashCh   chan struct{}
	crashOnce sync.Once
}

// start runs a broker with the text protocol and returns when it listens.
func start(t *testing.T, be backend, opts plugins.Options) *env { return startTB(t, be, opts) }

func startTB(t testing.TB, be backend, opts plugins.Options) *env {
	t.Helper()
	return startWith(t, be, adapterstest.Config{}, nil, opts)
}

// startWith is start with a broker configuration and extra plugin
// settings.
func startWith(t testing.TB, be backend, cfg adapterstest.Config, settings map[string]string, opts plugins.Options) *env {
	t.Helper()
	srv := adapterstest.Start(t, cfg)
	e, err := adapters.NewEngine(srv.B, adapters.Options{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testproc.Buffer{}
	opts.Logger = zerolog.New(logs)
	all := map[string]string{"listen": "127.0.0.1:0"}
	maps.Copy(all, settings)
	env := &env{srv: srv, logs: logs, crashCh: make(chan struct{})}
	pc := plugins.Config{Name: "text", Settings: all}
	be.use(&pc, env.crashCh)
	r, err := plugins.New(pc, e, opts)
	if err != nil {
		t.Fatal(err)
	}
	env.r = r
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Listen(ctx); err != nil {
		cancel()
		t.Fatalf("starting the plugin: %v\nlog:\n%s", err, logs)
	}
	done := make(chan struct{})
	go func() { r.Serve(ctx); close(done) }()
	once := sync.Once{}
	env.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(env.stop)
	return env
}

func (e *env) pluginAddr(t *testing.T) string { return e.pluginAddrTB(t) }

func (e *env) pluginAddrTB(t testing.TB) string {
	t.Helper()
	st := e.r.Status()
	addr, ok := strings.CutPrefix(st, "listening on ")
	if !ok {
		t.Fatalf("plugin status %q", st)
	}
	return addr
}

// textClient speaks the example plugin's line protocol.
type textClient struct {
	t     *testing.T
	c     net.Conn
	lines chan string
}

func dialText(t *testing.T, addr string) *textClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := &textClient{t: t, c: c, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			tc.lines <- sc.Text()
		}
		close(tc.lines)
	}()
	t.Cleanup(func() { c.Close() })
	return tc
}

func (tc *textClient) send(line string) {
	tc.t.Helper()
	if _, err := fmt.Fprintf(tc.c, "%s\r\n", line); err != nil {
		tc.t.Fatal(err)
	}
}

func (tc *textClient) expect(prefix string) string {
	tc.t.Helper()
	select {
	case l, ok := <-tc.lines:
		if !ok {
			tc.t.Fatalf("connection closed, want %q", prefix)
		}
		if !strings.HasPrefix(l, prefix) {
			tc.t.Fatalf("got %q, want %q...", l, prefix)
		}
		return l
	case <-time.After(wait):
		tc.t.Fatalf("no line, want %q", prefix)
	}
	return ""
}

// cmd sends a command and expects its answer.
func (tc *textClient) cmd(line, want string) string {
	tc.t.Helper()
	tc.send(line)
	return tc.expect(want)
}

func sdkConn(t *testing.T, url string) *sdk.Conn {
	t.Helper()
	c, err := sdk.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func flush(t *testing.T, c *sdk.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// protocolFunc is a plugin.Plugin made of a function.
type protocolFunc func(ctx context.Context, h *plugin.Host) error

func (f protocolFunc) Serve(ctx context.Context, h *plugin.Host) error { return f(ctx, h) }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
