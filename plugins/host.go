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

// maxQueued bounds the bytes that Send has queued for one session and its
// engine has not read yet; beyond it the batch waits.
const maxQueued = 1 << 20

type tunnel struct {
	id    uint64
	local net.Conn // the plugin's end of the pipe; the engine has the other

	// What the plugin sent, on its way into the pipe. A feeder goroutine
	// runs while the queue is not empty, so that a Send returns without
	// waiting for the engine, and the plugin prepares its next batch
	// while the engine reads this one.
	mu      sync.Mutex
	queue   []queued
	size    int
	feeding bool
	dead    bool          // the pipe is closed: drop what comes
	space   chan struct{} // closed when the feeder takes from a full queue
}

// queued is a piece of a session's stream, or, with end, the plugin's
// end of the session, after what it sent before.
type queued struct {
	data []byte
	end  bool
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

// Send implements pluginpb.HostServer. Each piece is queued for its
// session's pipe; a session with maxQueued bytes not yet read by its
// engine holds up the batch, which is the backpressure the plugin feels.
func (h *host) Send(ctx context.Context, b *pluginpb.DataBatch) (*pluginpb.SendResponse, error) {
	var resp pluginpb.SendResponse
	for _, item := range b.Items {
		h.mu.Lock()
		t := h.sessions[item.SessionId]
		h.mu.Unlock()
		if t == nil || !h.enqueue(ctx, t, queued{data: item.Data, end: item.Closed}) {
			// Ended by the engine; pump tells the plugin, and so does this.
			resp.UnknownSessions = append(resp.UnknownSessions, item.SessionId)
		}
	}
	return &resp, nil
}

// enqueue queues q for t's pipe, waiting while the queue is full, and
// starts the feeder if it is not running. It reports false if the session
// is gone.
func (h *host) enqueue(ctx context.Context, t *tunnel, q queued) bool {
	t.mu.Lock()
	for t.size >= maxQueued && !t.dead {
		if t.space == nil {
			t.space = make(chan struct{})
		}
		space := t.space
		t.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return true // the plugin is gone; its sessions end with it
		case <-h.ctx.Done():
			return true
		}
		t.mu.Lock()
	}
	if t.dead {
		t.mu.Unlock()
		return false
	}
	t.queue = append(t.queue, q)
	t.size += len(q.data)
	start := !t.feeding && h.track()
	if start {
		t.feeding = true
	}
	t.mu.Unlock()
	if start {
		go h.feed(t)
	}
	return true
}

// track counts a goroutine that close waits for, unless close has begun.
func (h *host) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

// feed writes t's queue into its pipe until the queue is empty.
func (h *host) feed(t *tunnel) {
	defer h.wg.Done()
	for {
		t.mu.Lock()
		if len(t.queue) == 0 || t.dead {
			t.feeding = false
			t.mu.Unlock()
			return
		}
		q := t.queue[0]
		t.queue[0] = queued{}
		t.queue = t.queue[1:]
		if len(t.queue) == 0 {
			t.queue = t.queue[:0:0] // let the backing array go
		}
		t.mu.Unlock()
		var err error
		if q.end {
			h.remove(t.id)
		} else {
			_, err = t.local.Write(q.data)
		}
		t.mu.Lock()
		t.size -= len(q.data)
		if err != nil || q.end {
			t.dead = true
			t.queue, t.size = nil, 0
		}
		if t.space != nil && (t.size < maxQueued || t.dead) {
			close(t.space)
			t.space = nil
		}
		t.mu.Unlock()
	}
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
