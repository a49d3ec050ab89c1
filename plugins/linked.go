package plugins

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/inproc"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// ErrServeEnded is the reason given to the sessions of a linked protocol
// whose Serve returned before it was asked to stop.
var ErrServeEnded = errors.New("plugins: linked protocol's Serve returned")

// linked is one run of a protocol linked into the broker: its Serve on a
// goroutine, and a goroutine per session running the engine on one end of
// an in-memory pipe. It owns all of them: teardown and stop return once
// they have ended.
type linked struct {
	name string
	e    *adapters.Engine
	log  zerolog.Logger
	run  runInfo

	stopServe context.CancelFunc // ends the protocol's Serve
	sessions  *inproc.Server     // the protocol's sessions, through in-memory pipes
	served    chan struct{}      // closed once Serve has returned
	serveErr  error              // Serve's result, set before served is closed
}

// launchLinked runs the protocol's Serve and waits until it calls Ready.
func (r *Runner) launchLinked(ctx context.Context) (instance, error) {
	serveCtx, stopServe := context.WithCancel(context.Background())
	l := &linked{
		name: r.cfg.Name, e: r.e, log: r.log, run: runInfo{start: time.Now()},
		stopServe: stopServe, sessions: inproc.New(r.e, r.cfg.Name),
		served: make(chan struct{}),
	}
	ready := make(chan string, 1) // the Host reports Ready once
	h := plugin.NewHost(plugin.HostConfig{
		Name:     r.cfg.Name,
		Settings: r.cfg.Settings,
		Logger:   slogFor(r.log),
		Dial:     l.dial,
		Ready:    func(status string) { ready <- status },
	})
	go func() {
		defer close(l.served)
		l.serveErr = r.cfg.Protocol.Serve(serveCtx, h)
	}()
	timer := time.NewTimer(r.opts.StartTimeout)
	defer timer.Stop()
	select {
	case l.run.status = <-ready:
	case <-l.served:
		err := l.serveErr
		if err == nil {
			err = errors.New("Serve returned before calling Ready")
		}
		l.teardown(ErrStart)
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	case <-timer.C:
		l.stop(r.opts.StopTimeout)
		return nil, fmt.Errorf("%w: not ready after %v", ErrStart, r.opts.StartTimeout)
	case <-ctx.Done():
		l.stop(r.opts.StopTimeout)
		return nil, fmt.Errorf("%w: %w", ErrStart, ctx.Err())
	}
	return l, nil
}

// dial is the Host's Dial: the engine serves one end of a new pipe, the
// protocol's *sdk.Conn gets the other.
func (l *linked) dial(ctx context.Context, p plugin.Peer) (sdk.Transport, error) {
	c, err := l.sessions.DialPeer(ctx, broker.Peer{RemoteAddr: p.RemoteAddr, TLS: p.TLS})
	if errors.Is(err, inproc.ErrClosed) {
		return nil, plugin.ErrStopped
	}
	return c, err
}

func (l *linked) ended() <-chan struct{} { return l.served }
func (l *linked) info() runInfo          { return l.run }

func (l *linked) endErr() error {
	if l.serveErr == nil {
		return ErrServeEnded
	}
	return fmt.Errorf("%w: %w", ErrServeEnded, l.serveErr)
}

// stop ends Serve's context and waits for Serve to return, which closes
// the protocol's clients and their sessions; what is left at the timeout
// is closed. A Serve that ignores its context cannot be killed: stop waits
// for it, after the sessions are closed.
func (l *linked) stop(timeout time.Duration) {
	l.stopServe()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-l.served:
		if l.serveErr != nil && !errors.Is(l.serveErr, context.Canceled) {
			l.log.Warn().Err(l.serveErr).Msg("protocol's Serve failed while stopping")
		}
	case <-timer.C:
		l.log.Warn().Dur("timeout", timeout).Msg("protocol's Serve did not return in time; closing its sessions and waiting for it")
	}
	l.teardown(broker.ErrShutdown)
}

// teardown closes the sessions with cause and waits for Serve and the
// sessions to end.
func (l *linked) teardown(cause error) {
	l.stopServe()
	l.sessions.Close(cause)
	<-l.served
}
