package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/msgtrans/msgtrans/plugins/pluginpb"
)

// server is the Plugin service the broker calls.
type server struct {
	pluginpb.UnimplementedPluginServer
	p      Plugin
	broker *goplugin.GRPCBroker
	log    *slog.Logger

	mu        sync.Mutex
	h         *remote
	stopServe context.CancelFunc // ends Plugin.Serve
	stopRun   context.CancelFunc // ends the streams to the broker
	served    chan error         // Plugin.Serve's result, once
	stopping  bool
}

// Start implements pluginpb.PluginServer.
func (s *server) Start(ctx context.Context, req *pluginpb.StartRequest) (*pluginpb.StartResponse, error) {
	s.mu.Lock()
	if s.h != nil {
		s.mu.Unlock()
		return nil, status.Error(codes.FailedPrecondition, "plugin already started")
	}
	conn, err := s.broker.Dial(req.HostServiceId)
	if err != nil {
		s.mu.Unlock()
		return nil, status.Errorf(codes.Unavailable, "dialing the broker's host service: %v", err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	h := newRemote(runCtx, pluginpb.NewHostClient(conn), s.log)
	host := newHost(req.Name, req.Settings, s.log, h)
	stream, err := h.hc.Receive(runCtx, &pluginpb.ReceiveRequest{})
	if err != nil {
		stopRun()
		s.mu.Unlock()
		return nil, status.Errorf(codes.Unavailable, "opening the delivery stream: %v", err)
	}
	serveCtx, stopServe := context.WithCancel(runCtx)
	s.h, s.stopServe, s.stopRun = h, stopServe, stopRun
	s.served = make(chan error, 1)
	s.mu.Unlock()

	go func() {
		err := h.receiveLoop(stream)
		s.mu.Lock()
		stopping := s.stopping
		s.mu.Unlock()
		if !stopping {
			// The broker went away without stopping us: nothing is left to serve.
			h.log.Error("lost the broker's delivery stream; exiting", "err", err)
			os.Exit(1)
		}
	}()
	go func() { s.served <- s.p.Serve(serveCtx, host) }()

	select {
	case st := <-h.readyCh:
		return &pluginpb.StartResponse{Description: st}, nil
	case err := <-s.served:
		s.served <- err
		if err == nil {
			err = errors.New("Serve returned before calling Ready")
		}
		return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// Stop implements pluginpb.PluginServer: Serve's context ends, Serve closes
// its clients' sessions, their last bytes reach the broker, and then the
// streams close; all by the deadline.
func (s *server) Stop(ctx context.Context, req *pluginpb.StopRequest) (*pluginpb.StopResponse, error) {
	s.mu.Lock()
	h := s.h
	s.stopping = true
	s.mu.Unlock()
	if h == nil {
		return &pluginpb.StopResponse{}, nil
	}
	wctx, cancel := context.WithDeadline(ctx, time.Unix(0, req.DeadlineUnixNano))
	defer cancel()
	s.stopServe()
	var err error
	select {
	case err = <-s.served:
	case <-wctx.Done():
		err = fmt.Errorf("Serve did not return by the deadline")
	}
	h.stop()
	h.flush(wctx)
	s.stopRun()
	h.close()
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return &pluginpb.StopResponse{}, nil
}
