package plugins_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/plugins"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// linkedBackend runs p linked into the broker.
func linkedBackend(p plugin.Plugin) backend {
	return backend{name: "linked", use: func(cfg *plugins.Config, _ <-chan struct{}) { cfg.Protocol = p }}
}

// leaky is a linked protocol that opens one session per run and never
// closes it. Its first run fails once told to; the later runs serve until
// their context ends.
type leaky struct {
	runs  atomic.Int32
	conns chan *sdk.Conn
	fail  chan struct{}
}

var errLeaky = errors.New("leaky protocol failed")

func (p *leaky) Serve(ctx context.Context, h *plugin.Host) error {
	run := p.runs.Add(1)
	c, err := h.Connect(ctx, "leaky-client")
	if err != nil {
		return err
	}
	p.conns <- c
	h.Ready("serving")
	if run == 1 {
		<-p.fail
		return errLeaky
	}
	<-ctx.Done()
	return nil
}

// A linked protocol whose Serve fails is like a plugin process that dies:
// the sessions it left open are closed, the broker goes on, and the
// protocol is restarted. Stopping closes the sessions it leaves open, and
// returns once they have ended.
func TestLinkedProtocolFailureClosesItsSessions(t *testing.T) {
	p := &leaky{conns: make(chan *sdk.Conn, 2), fail: make(chan struct{})}
	e := start(t, linkedBackend(p), plugins.Options{MinBackoff: time.Millisecond})
	first := <-p.conns
	defer first.Close()
	s, err := first.SubscribeSync("leaky.in")
	if err != nil {
		t.Fatal(err)
	}
	flush(t, first)
	native := sdkConn(t, e.srv.URL)
	native.Publish("leaky.in", []byte("hello"))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if m, err := s.NextMsg(ctx); err != nil || string(m.Data) != "hello" {
		t.Fatalf("the linked session got %v %v", m, err)
	}

	close(p.fail)
	waitFor(t, first.IsClosed)
	second := <-p.conns
	defer second.Close()
	waitFor(t, func() bool { return strings.Count(e.logs.String(), `"status":"serving"`) == 2 })
	flush(t, second)
	flush(t, native)
	logs := e.logs.String()
	if !strings.Contains(logs, errLeaky.Error()) || !strings.Contains(logs, "restarting plugin") {
		t.Fatalf("failure not logged:\n%s", logs)
	}
	if n := e.srv.B.Stats().ConnectionsByProtocol["text"]; n != 1 {
		t.Fatalf("%d sessions after the restart, want the second run's one", n)
	}

	e.stop()
	if n := e.srv.B.Stats().ConnectionsByProtocol["text"]; n != 0 {
		t.Fatalf("%d sessions left after stop returned", n)
	}
	waitFor(t, second.IsClosed)
}

// A linked protocol whose Serve ignores its context cannot be killed: at
// the stop timeout its sessions are closed, and stop waits for Serve.
func TestLinkedProtocolIgnoringStop(t *testing.T) {
	var returned atomic.Bool
	p := protocolFunc(func(ctx context.Context, h *plugin.Host) error {
		gone := make(chan struct{})
		c, err := h.Connect(ctx, "stubborn", sdk.DisconnectHandler(func(*sdk.Conn, error) { close(gone) }))
		if err != nil {
			return err
		}
		defer c.Close()
		h.Ready("serving")
		<-gone // the broker ended the session; ctx is not looked at
		returned.Store(true)
		return nil
	})
	e := start(t, linkedBackend(p), plugins.Options{StopTimeout: 50 * time.Millisecond})
	e.stop()
	if !returned.Load() {
		t.Fatal("stop returned before the protocol's Serve")
	}
	if !strings.Contains(e.logs.String(), "did not return in time") {
		t.Fatalf("not logged:\n%s", e.logs)
	}
}

// Connect fails with plugin.ErrStopped once the run is torn down.
func TestLinkedConnectAfterStop(t *testing.T) {
	hosts := make(chan *plugin.Host, 1)
	p := protocolFunc(func(ctx context.Context, h *plugin.Host) error {
		h.Ready("serving")
		hosts <- h
		<-ctx.Done()
		return nil
	})
	e := start(t, linkedBackend(p), plugins.Options{})
	h := <-hosts
	c, err := h.Connect(context.Background(), "before")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	e.stop()
	if _, err := h.Connect(context.Background(), "after"); !errors.Is(err, plugin.ErrStopped) {
		t.Fatalf("Connect after stop: %v", err)
	}
}

// flaky is a linked protocol whose first runs fail as soon as they start
// (a plugin that keeps crashing for a while) and whose later runs serve.
type flaky struct {
	failures int32
	runs     atomic.Int32
	serving  chan struct{}
}

func (p *flaky) Serve(ctx context.Context, h *plugin.Host) error {
	run := p.runs.Add(1)
	h.Ready("run")
	if run <= p.failures {
		return errLeaky
	}
	close(p.serving)
	<-ctx.Done()
	return nil
}

// A plugin that fails many times in a row is never given up on: it comes
// back by itself once it works again, while Running reports the gaps.
func TestFlakyPluginComesBack(t *testing.T) {
	p := &flaky{failures: 12, serving: make(chan struct{})}
	e := start(t, linkedBackend(p), plugins.Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	select {
	case <-p.serving:
	case <-time.After(wait):
		t.Fatalf("after %d runs the plugin is still not serving", p.runs.Load())
	}
	if n := p.runs.Load(); n != p.failures+1 {
		t.Fatalf("%d runs, want %d", n, p.failures+1)
	}
	waitFor(t, e.r.Running)
}
