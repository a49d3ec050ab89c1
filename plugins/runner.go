// Package plugins runs protocol code written against sdk/plugin, one of two
// ways. A plugin binary runs out of process: it is launched with
// hashicorp/go-plugin (gRPC, AutoMTLS, handshake cookie, optional SHA-256
// pin) and served the Host service through which its clients become broker
// sessions. A protocol linked into the broker runs in process: its Serve
// runs on a goroutine and each of its sessions reaches the session engine
// through an in-memory pipe. Either way the protocol is supervised: one
// that dies is restarted with backoff while the broker serves everyone
// else.
package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// Errors that explain why a plugin could not start or was refused.
var (
	ErrBinary    = errors.New("plugins: plugin binary not usable")
	ErrChecksum  = errors.New("plugins: plugin binary does not match its sha256")
	ErrHandshake = errors.New("plugins: not a msgtrans plugin or handshake failed")
	ErrStart     = errors.New("plugins: plugin refused to start")
	ErrConfig    = errors.New("plugins: invalid plugin configuration")
)

// Config describes one plugin: a binary (Path) or a protocol linked into
// the broker (Protocol), exactly one of the two.
type Config struct {
	Name     string
	Path     string
	Args     []string
	SHA256   string            // hex; empty: not checked
	Protocol plugin.Plugin     // linked into the broker; Path, Args and SHA256 stay empty
	Settings map[string]string // handed to the plugin when it starts
}

// Options tunes supervision. Zero values take the defaults.
type Options struct {
	StartTimeout time.Duration // launch + handshake + Start (or Ready); default 10s
	StopTimeout  time.Duration // Stop before the process is killed, or the sessions are closed; default 5s
	MinBackoff   time.Duration // first restart pause; default 500ms
	MaxBackoff   time.Duration // default 30s
	StableAfter  time.Duration // a run this long resets the failure count; default 1m
	Logger       zerolog.Logger
	// Events, if set, hears of each crash and restart (the broker
	// publishes them as system events).
	Events Events
}

// Events is told what happens to a supervised plugin.
type Events interface {
	PluginCrashed(plugin string, pid, restarts int, reason error)
	PluginRestarted(plugin string, pid, restarts int)
}

// Plugin states, as State reports them.
const (
	StateStarting   = "starting"   // Listen has not succeeded yet
	StateRunning    = "running"    // it runs and serves its clients
	StateRestarting = "restarting" // it ended; a restart is pending or under way
	StateFailed     = "failed"     // it could not start (Listen failed); an optional plugin stays so
	StateStopped    = "stopped"    // the broker stopped it
)

// State is what monitoring shows of a plugin.
type State struct {
	Name     string
	State    string    // one of the State* constants
	PID      int       // 0 when linked or not running
	Linked   bool      // runs inside the broker
	Status   string    // what the plugin reported when it started
	Restarts int       // restarts since the broker started
	Since    time.Time // when it entered State
	LastErr  string    // why it last ended or failed to start
}

// IsReservedName reports whether name is the protocol name of a built-in
// transport, which sessions are counted under: a plugin may not take it.
func IsReservedName(name string) bool {
	switch name {
	case "tcp", "tls", "ws", "wss", "quic", "inproc":
		return true
	}
	return false
}

// Runner runs and supervises one plugin. It has the Listen/Serve shape of
// the transport adapters.
type Runner struct {
	cfg  Config
	opts Options
	e    *adapters.Engine
	log  zerolog.Logger
	sum  []byte

	mu       sync.Mutex
	cur      instance
	state    string
	since    time.Time
	restarts int
	lastErr  string
}

// instance is one run of a plugin: a process, or a linked protocol's Serve.
type instance interface {
	// ended is closed when the run ends by itself.
	ended() <-chan struct{}
	// endErr says why, once ended is closed.
	endErr() error
	// stop asks the run to end within timeout, then closes its sessions
	// and waits for them.
	stop(timeout time.Duration)
	// teardown ends the run now, closing its sessions with cause.
	teardown(cause error)
	info() runInfo
}

type runInfo struct {
	start  time.Time
	pid    int    // 0 when linked
	status string // from the plugin's Ready
}

// New checks cfg and returns a runner; Listen starts the plugin.
func New(cfg Config, e *adapters.Engine, opts Options) (*Runner, error) {
	switch {
	case cfg.Name == "" || strings.ContainsAny(cfg.Name, " \t\r\n"):
		return nil, fmt.Errorf("%w: name %q", ErrConfig, cfg.Name)
	case IsReservedName(cfg.Name):
		return nil, fmt.Errorf("%w: %s: the name of a built-in protocol", ErrConfig, cfg.Name)
	case cfg.Protocol != nil && (cfg.Path != "" || len(cfg.Args) > 0 || cfg.SHA256 != ""):
		return nil, fmt.Errorf("%w: %s: a linked protocol has no path, args or sha256", ErrConfig, cfg.Name)
	case cfg.Protocol == nil && cfg.Path == "":
		return nil, fmt.Errorf("%w: %s: path is empty", ErrConfig, cfg.Name)
	}
	r := &Runner{cfg: cfg, opts: opts, e: e, log: opts.Logger.With().Str("plugin", cfg.Name).Logger(), state: StateStarting, since: time.Now()}
	if cfg.SHA256 != "" {
		sum, err := hex.DecodeString(cfg.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("%w: %s: sha256 must be 64 hex digits", ErrConfig, cfg.Name)
		}
		r.sum = sum
	}
	setDefault(&r.opts.StartTimeout, 10*time.Second)
	setDefault(&r.opts.StopTimeout, 5*time.Second)
	setDefault(&r.opts.MinBackoff, 500*time.Millisecond)
	setDefault(&r.opts.MaxBackoff, 30*time.Second)
	setDefault(&r.opts.StableAfter, time.Minute)
	return r, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Name returns the plugin's name.
func (r *Runner) Name() string { return r.cfg.Name }

// Listen starts the plugin and waits until it is ready; an error names
// the plugin and says what went wrong.
func (r *Runner) Listen(ctx context.Context) error {
	inst, err := r.launch(ctx)
	if err != nil {
		r.setState(StateFailed, err)
		return fmt.Errorf("plugin %s: %w", r.cfg.Name, err)
	}
	r.setCurrent(inst)
	return nil
}

// State returns the plugin's state now.
func (r *Runner) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := State{
		Name: r.cfg.Name, State: r.state, Linked: r.cfg.Protocol != nil,
		Restarts: r.restarts, Since: r.since, LastErr: r.lastErr,
	}
	if r.cur != nil && r.state == StateRunning {
		info := r.cur.info()
		st.PID, st.Status = info.pid, info.status
	}
	return st
}

// setState records a change of state; err, if not nil, is why.
func (r *Runner) setState(state string, err error) {
	r.mu.Lock()
	r.state, r.since = state, time.Now()
	if err != nil {
		r.lastErr = err.Error()
	}
	r.mu.Unlock()
}

// launch starts one run, in its own process or linked in.
func (r *Runner) launch(ctx context.Context) (instance, error) {
	if r.cfg.Protocol != nil {
		return r.launchLinked(ctx)
	}
	return r.launchProcess(ctx)
}

// Running reports whether the plugin runs: it started and is not waiting
// to be restarted.
func (r *Runner) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur != nil
}

// PID returns the process id of the running plugin, or 0 (none runs, or
// it is linked into the broker).
func (r *Runner) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return 0
	}
	return r.cur.info().pid
}

// Status returns what the running plugin reported when it started (such
// as its listen address), or "" when none runs.
func (r *Runner) Status() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return ""
	}
	return r.cur.info().status
}

// Serve supervises the plugin until ctx is cancelled: when it dies (its
// process exits, or a linked protocol's Serve returns), its sessions are
// closed and it is restarted with exponential backoff, up to MaxBackoff
// between tries, for as long as it takes: a plugin that comes back after a
// bad hour needs no operator. A run of StableAfter resets the backoff.
// On cancellation the plugin is asked to stop, and its sessions are closed
// at the deadline.
func (r *Runner) Serve(ctx context.Context) error {
	r.mu.Lock()
	started := r.cur != nil
	r.mu.Unlock()
	if !started {
		if err := r.Listen(ctx); err != nil {
			return err
		}
	}
	failures := 0
	backoff := r.opts.MinBackoff
	for {
		r.mu.Lock()
		inst := r.cur
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			inst.stop(r.opts.StopTimeout)
			r.setState(StateStopped, nil)
			return nil
		case <-inst.ended():
		}
		info, err := inst.info(), inst.endErr()
		ran := time.Since(info.start)
		r.setState(StateRestarting, err)
		inst.teardown(err)
		if r.opts.Events != nil {
			r.mu.Lock()
			n := r.restarts
			r.mu.Unlock()
			r.opts.Events.PluginCrashed(r.cfg.Name, info.pid, n, err)
		}
		ev := r.log.Error().Err(err).Dur("ran", ran)
		if info.pid != 0 {
			ev = ev.Int("pid", info.pid)
		}
		ev.Msg("plugin ended; its sessions were closed")
		if ran >= r.opts.StableAfter {
			failures, backoff = 0, r.opts.MinBackoff
		}
		r.mu.Lock()
		r.cur = nil // not running until a restart succeeds
		r.mu.Unlock()
		for {
			failures++
			r.log.Warn().Dur("in", backoff).Int("attempt", failures).Msg("restarting plugin")
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				r.setState(StateStopped, nil)
				return nil
			}
			backoff = min(2*backoff, r.opts.MaxBackoff)
			next, err := r.launch(ctx)
			if err != nil {
				r.setState(StateRestarting, err)
				r.log.Error().Err(err).Msg("plugin restart failed")
				continue
			}
			r.mu.Lock()
			r.restarts++
			n := r.restarts
			r.mu.Unlock()
			r.setCurrent(next)
			if r.opts.Events != nil {
				r.opts.Events.PluginRestarted(r.cfg.Name, next.info().pid, n)
			}
			break
		}
	}
}

// setCurrent makes inst the current run, then logs that it started: by
// then PID and Status describe it.
func (r *Runner) setCurrent(inst instance) {
	r.mu.Lock()
	r.cur = inst
	r.state, r.since = StateRunning, time.Now()
	r.mu.Unlock()
	info := inst.info()
	ev := r.log.Info()
	if info.pid != 0 {
		ev = ev.Int("pid", info.pid)
	} else {
		ev = ev.Bool("linked", true)
	}
	if info.status != "" {
		ev = ev.Str("status", info.status)
	}
	ev.Msg("plugin started")
}
