// Package plugins runs out-of-process protocol plugins: it launches each
// plugin binary with hashicorp/go-plugin (gRPC, AutoMTLS, handshake cookie,
// optional SHA-256 pin), serves it the Host service through which its
// clients become broker sessions, and supervises it: a plugin that dies is
// restarted with backoff while the broker serves everyone else.
package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/plugins/pluginpb"
)

// Errors that explain why a plugin could not start.
var (
	ErrBinary    = errors.New("plugins: plugin binary not usable")
	ErrChecksum  = errors.New("plugins: plugin binary does not match its sha256")
	ErrHandshake = errors.New("plugins: not a msgtrans plugin or handshake failed")
	ErrStart     = errors.New("plugins: plugin refused to start")
)

// Config describes one plugin.
type Config struct {
	Name     string
	Path     string
	Args     []string
	SHA256   string            // hex; empty: not checked
	Settings map[string]string // handed to the plugin's Start
}

// Options tunes supervision. Zero values take the defaults.
type Options struct {
	StartTimeout time.Duration // launch + handshake + Start; default 10s
	StopTimeout  time.Duration // Stop before the process is killed; default 5s
	MinBackoff   time.Duration // first restart pause; default 500ms
	MaxBackoff   time.Duration // default 30s
	MaxRestarts  int           // consecutive failed runs before giving up; default 5
	StableAfter  time.Duration // a run this long resets the failure count; default 1m
	Logger       zerolog.Logger
}

// Runner runs and supervises one plugin. It has the Listen/Serve shape of
// the transport adapters.
type Runner struct {
	cfg  Config
	opts Options
	e    *adapters.Engine
	log  zerolog.Logger
	sum  []byte

	mu  sync.Mutex
	cur *instance
}

// instance is one running plugin process.
type instance struct {
	client *goplugin.Client
	pc     *pluginpb.Client
	host   *host
	cancel context.CancelCauseFunc
	start  time.Time
	pid    int
	status string // from the plugin's Start
}

// New checks cfg and returns a runner; Listen launches the plugin.
func New(cfg Config, e *adapters.Engine, opts Options) (*Runner, error) {
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, " \t\r\n") {
		return nil, fmt.Errorf("plugins: invalid plugin name %q", cfg.Name)
	}
	if cfg.Path == "" {
		return nil, fmt.Errorf("plugins: %s: path is empty", cfg.Name)
	}
	r := &Runner{cfg: cfg, opts: opts, e: e, log: opts.Logger.With().Str("plugin", cfg.Name).Logger()}
	if cfg.SHA256 != "" {
		sum, err := hex.DecodeString(cfg.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("plugins: %s: sha256 must be 64 hex digits", cfg.Name)
		}
		r.sum = sum
	}
	setDefault(&r.opts.StartTimeout, 10*time.Second)
	setDefault(&r.opts.StopTimeout, 5*time.Second)
	setDefault(&r.opts.MinBackoff, 500*time.Millisecond)
	setDefault(&r.opts.MaxBackoff, 30*time.Second)
	setDefault(&r.opts.StableAfter, time.Minute)
	if r.opts.MaxRestarts == 0 {
		r.opts.MaxRestarts = 5
	}
	return r, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Name returns the plugin's name.
func (r *Runner) Name() string { return r.cfg.Name }

// Listen launches the plugin and waits until it has started; an error
// names the plugin and says what went wrong.
func (r *Runner) Listen(ctx context.Context) error {
	inst, err := r.launch(ctx)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", r.cfg.Name, err)
	}
	r.mu.Lock()
	r.cur = inst
	r.mu.Unlock()
	return nil
}

// PID returns the process id of the running plugin, or 0.
func (r *Runner) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return 0
	}
	return r.cur.pid
}

// Status returns what the running plugin reported when it started (such
// as its listen address), or "" when none runs.
func (r *Runner) Status() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return ""
	}
	return r.cur.status
}

// Serve supervises the plugin until ctx is cancelled: when the process
// dies, its sessions are closed and it is restarted with exponential
// backoff; after MaxRestarts failed runs in a row it is given up on (the
// broker goes on without it). On cancellation the plugin is asked to stop,
// then killed at the deadline.
func (r *Runner) Serve(ctx context.Context) error {
	if r.cur == nil {
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
			r.stop(inst)
			return nil
		case <-inst.pc.Done.Done():
		}
		ran := time.Since(inst.start)
		r.teardown(inst, ErrPluginExited)
		r.log.Error().Int("pid", inst.pid).Dur("ran", ran).Msg("plugin process exited; its sessions were closed")
		if ran >= r.opts.StableAfter {
			failures, backoff = 0, r.opts.MinBackoff
		}
		for {
			failures++
			if failures > r.opts.MaxRestarts {
				r.log.Error().Int("failures", failures-1).Msg("plugin keeps failing; giving up on it (the broker goes on without it)")
				r.mu.Lock()
				r.cur = nil
				r.mu.Unlock()
				<-ctx.Done()
				return nil
			}
			r.log.Warn().Dur("in", backoff).Int("attempt", failures).Msg("restarting plugin")
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			backoff = min(2*backoff, r.opts.MaxBackoff)
			next, err := r.launch(ctx)
			if err != nil {
				r.log.Error().Err(err).Msg("plugin restart failed")
				continue
			}
			r.mu.Lock()
			r.cur = next
			r.mu.Unlock()
			break
		}
	}
}

// launch starts the process, completes go-plugin's handshake, serves the
// Host service and calls Start.
func (r *Runner) launch(ctx context.Context) (*instance, error) {
	if _, err := os.Stat(r.cfg.Path); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBinary, err)
	}
	cmd := exec.Command(r.cfg.Path, r.cfg.Args...)
	var secure *goplugin.SecureConfig
	if r.sum != nil {
		secure = &goplugin.SecureConfig{Checksum: r.sum, Hash: sha256.New()}
	}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  pluginpb.Handshake,
		Plugins:          goplugin.PluginSet{pluginpb.Name: &pluginpb.GRPCPlugin{}},
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     r.opts.StartTimeout,
		Logger:           hclogFor(r.log),
	})
	fail := func(kind, err error) (*instance, error) {
		client.Kill()
		return nil, fmt.Errorf("%w: %w", kind, err)
	}
	rpc, err := client.Client()
	if err != nil {
		switch {
		case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
			return fail(ErrChecksum, err)
		case strings.Contains(err.Error(), "exec format error"), strings.Contains(err.Error(), "permission denied"):
			return fail(ErrBinary, err)
		}
		return fail(ErrHandshake, err)
	}
	raw, err := rpc.Dispense(pluginpb.Name)
	if err != nil {
		return fail(ErrHandshake, err)
	}
	pc, ok := raw.(*pluginpb.Client)
	if !ok {
		return fail(ErrHandshake, fmt.Errorf("unexpected plugin type %T", raw))
	}
	ictx, cancel := context.WithCancelCause(context.Background())
	inst := &instance{client: client, pc: pc, cancel: cancel, start: time.Now(), host: newHost(ictx, r.cfg.Name, r.e)}
	if cmd.Process != nil {
		inst.pid = cmd.Process.Pid
	}
	id := pc.Broker.NextId()
	go pc.Broker.AcceptAndServe(id, inst.host.grpcServer)
	sctx, scancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer scancel()
	resp, err := pc.Start(sctx, &pluginpb.StartRequest{Name: r.cfg.Name, Settings: r.cfg.Settings, HostServiceId: id})
	if err != nil {
		r.teardown(inst, ErrStart)
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	inst.status = resp.Description
	ev := r.log.Info().Int("pid", inst.pid)
	if resp.Description != "" {
		ev = ev.Str("status", resp.Description)
	}
	ev.Msg("plugin started")
	return inst, nil
}

// stop asks the plugin to drain, then tears it down.
func (r *Runner) stop(inst *instance) {
	if inst == nil {
		return
	}
	deadline := time.Now().Add(r.opts.StopTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	_, err := inst.pc.Stop(ctx, &pluginpb.StopRequest{DeadlineUnixNano: deadline.UnixNano()})
	cancel()
	if err != nil {
		r.log.Warn().Err(err).Msg("plugin did not stop cleanly; killing it")
	}
	r.teardown(inst, broker.ErrShutdown)
}

// teardown closes the instance's sessions and ends the process.
func (r *Runner) teardown(inst *instance, cause error) {
	inst.cancel(cause)
	inst.host.close()
	inst.client.Kill()
}
