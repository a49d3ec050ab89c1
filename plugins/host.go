package plugins

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/plugins/pluginpb"
)

// ErrPluginExited is the reason given to the sessions of a plugin whose
// process ended.
var ErrPluginExited = errors.New("plugins: plugin process exited")

// outQueue bounds the chunks waiting for the Receive stream; when the
// plugin does not keep up, its sessions' writers block and the engine
// declares them slow consumers, while the broker goes on.
const outQueue = 1024

// host serves the Host service to one plugin process: every session is a
// byte tunnel (a net.Pipe) between the session engine and the plugin.
type host struct {
	pluginpb.UnimplementedHostServer
	name string
	e    *adapters.Engine
	ctx  context.Context // ends when this plugin instance is torn down

	mu       sync.Mutex
	sessions map[uint64]*tunnel
	nextID   uint64
	closed   bool
	wg       sync.WaitGroup // session and pump goroutines

	out chan *pluginpb.SessionData
}

type tunnel struct {
	id    uint64
	local net.Conn // the plugin's end of the pipe; the engine has the other
}

func newHost(ctx context.Context, name string, e *adapters.Engine) *host {
	return &host{name: name, e: e, ctx: ctx, sessions: make(map[uint64]*tunnel), out: make(chan *pluginpb.SessionData, outQueue)}
}

func (h *host) grpcServer(opts []grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(opts...)
	pluginpb.RegisterHostServer(s, h)
	return s
}

// OpenSession implements pluginpb.HostServer.
func (h *host) OpenSession(_ context.Context, req *pluginpb.OpenSessionRequest) (*pluginpb.OpenSessionResponse, error) {
	engineEnd, local := net.Pipe()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "plugin host stopping")
	}
	h.nextID++
	t := &tunnel{id: h.nextID, local: local}
	h.sessions[t.id] = t
	h.wg.Add(2)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		// The client's HELLO, credentials included, arrives through Send.
		h.e.Serve(h.ctx, adapters.NewStreamConn(engineEnd, h.e.Options().MaxFrame), h.name, req.RemoteAddr)
	}()
	go func() {
		defer h.wg.Done()
		h.pump(t)
	}()
	return &pluginpb.OpenSessionResponse{SessionId: t.id}, nil
}

// pump moves what the engine writes for a session to the Receive stream.
func (h *host) pump(t *tunnel) {
	buf := make([]byte, 32<<10)
	for {
		n, err := t.local.Read(buf)
		if n > 0 {
			item := &pluginpb.SessionData{SessionId: t.id, Data: append([]byte(nil), buf[:n]...)}
			select {
			case h.out <- item:
			case <-h.ctx.Done():
				return
			}
		}
		if err != nil {
			h.remove(t.id)
			select {
			case h.out <- &pluginpb.SessionData{SessionId: t.id, Closed: true}:
			case <-h.ctx.Done():
			}
			return
		}
	}
}

func (h *host) remove(id uint64) {
	h.mu.Lock()
	t := h.sessions[id]
	delete(h.sessions, id)
	h.mu.Unlock()
	if t != nil {
		t.local.Close()
	}
}

// CloseSession implements pluginpb.HostServer.
func (h *host) CloseSession(_ context.Context, req *pluginpb.CloseSessionRequest) (*pluginpb.CloseSessionResponse, error) {
	h.remove(req.SessionId)
	return &pluginpb.CloseSessionResponse{}, nil
}

// Send implements pluginpb.HostServer. Each piece is written into its
// session's pipe, which returns once the engine has read it: a busy
// session holds up the batch, which is the backpressure the plugin feels.
func (h *host) Send(_ context.Context, b *pluginpb.DataBatch) (*pluginpb.SendResponse, error) {
	var resp pluginpb.SendResponse
	for _, item := range b.Items {
		h.mu.Lock()
		t := h.sessions[item.SessionId]
		h.mu.Unlock()
		if t == nil {
			resp.UnknownSessions = append(resp.UnknownSessions, item.SessionId)
			continue
		}
		if item.Closed {
			h.remove(t.id)
			continue
		}
		if _, err := t.local.Write(item.Data); err != nil {
			// The engine ended the session; pump reports it to the plugin.
			resp.UnknownSessions = append(resp.UnknownSessions, item.SessionId)
		}
	}
	return &resp, nil
}

// Receive implements pluginpb.HostServer: one stream for all sessions,
// sending whatever is queued in one batch.
func (h *host) Receive(_ *pluginpb.ReceiveRequest, stream grpc.ServerStreamingServer[pluginpb.DataBatch]) error {
	var batch pluginpb.DataBatch
	for {
		select {
		case item := <-h.out:
			batch.Items = append(batch.Items[:0], item)
		case <-stream.Context().Done():
			return nil
		case <-h.ctx.Done():
			return nil
		}
		size := len(batch.Items[0].Data)
	more:
		for size < 1<<20 && len(batch.Items) < 512 {
			select {
			case item := <-h.out:
				batch.Items = append(batch.Items, item)
				size += len(item.Data)
			default:
				break more
			}
		}
		if err := stream.Send(&batch); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// close ends every session of the plugin with reason and waits for their
// goroutines.
func (h *host) close() {
	h.mu.Lock()
	h.closed = true
	ts := make([]*tunnel, 0, len(h.sessions))
	for _, t := range h.sessions {
		ts = append(ts, t)
	}
	h.mu.Unlock()
	for _, t := range ts {
		t.local.Close()
	}
	h.wg.Wait()
}
