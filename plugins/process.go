package plugins

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/plugins/pluginpb"
)

// process is one run of a plugin binary.
type process struct {
	client *goplugin.Client
	pc     *pluginpb.Client
	host   *host
	cancel context.CancelCauseFunc
	run    runInfo
	log    zerolog.Logger
}

// launchProcess starts the process, completes go-plugin's handshake,
// serves the Host service and calls Start.
func (r *Runner) launchProcess(ctx context.Context) (instance, error) {
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
	fail := func(kind, err error) (instance, error) {
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
	p := &process{client: client, pc: pc, cancel: cancel, run: runInfo{start: time.Now()},
		host: newHost(ictx, r.cfg.Name, r.e), log: r.log}
	if cmd.Process != nil {
		p.run.pid = cmd.Process.Pid
	}
	id := pc.Broker.NextId()
	go pc.Broker.AcceptAndServe(id, p.host.grpcServer)
	sctx, scancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer scancel()
	resp, err := pc.Start(sctx, &pluginpb.StartRequest{Name: r.cfg.Name, Settings: r.cfg.Settings, HostServiceId: id})
	if err != nil {
		p.teardown(ErrStart)
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	p.run.status = resp.Description
	return p, nil
}

func (p *process) ended() <-chan struct{} { return p.pc.Done.Done() }
func (p *process) endErr() error          { return ErrPluginExited }
func (p *process) info() runInfo          { return p.run }

// stop asks the plugin to drain, then tears it down.
func (p *process) stop(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	_, err := p.pc.Stop(ctx, &pluginpb.StopRequest{DeadlineUnixNano: deadline.UnixNano()})
	cancel()
	if err != nil {
		p.log.Warn().Err(err).Msg("plugin did not stop cleanly; killing it")
	}
	p.teardown(broker.ErrShutdown)
}

// teardown closes the process's sessions and ends it.
func (p *process) teardown(cause error) {
	p.cancel(cause)
	p.host.close()
	p.client.Kill()
}
