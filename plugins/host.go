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
	"github.com/msgtrans/msgtrans/adapters/inproc"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/internal/batchq"
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
// byte tunnel (a pipe, see pipe.go) between the session engine and the
// plugin.
type host struct {
	pluginpb.UnimplementedHostServer
	name string
	e    *adapters.Engine
	ctx  context.Context // ends when this plugin instance is torn down

	mu       sync.Mutex
	sessions map[uint64]*tunnel
	nextID   uint64
	closed   bool
	wg       sync.WaitGroup // session, pump and feeder goroutines

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
	q batchq.Queue[queued]

	// Room: size counts what is queued or being fed, with itemCost per
	// piece, until the piece is in the pipe.
	mu    sync.Mutex
	size  int
	dead  bool          // ended, or a write failed: drop what comes
	space chan struct{} // closed when the size falls under maxQueued, or on dead
}

// itemCost is what a queued piece counts beyond its bytes, so that many
// tiny pieces are bounded too.
const itemCost = 64

// queued is a piece of a session's stream, or, with ended, the plugin's
// end of the session, after what it sent before; ended is closed once the
// session is ended (or found dead).
type queued struct {
	data  []byte
	ended chan struct{}
}

func (q queued) cost() int { return len(q.data) + itemCost }

func newHost(ctx context.Context, name string, e *adapters.Engine) *host {
	return &host{name: name, e: e, ctx: ctx, sessions: make(map[uint64]*tunnel), out: make(chan *pluginpb.SessionData, outQueue)}
}

func (h *host) grpcServer(opts []grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(opts...)
	pluginpb.RegisterHostServer(s, h)
	return s
}

// newTunnel makes a session's tunnel: its queue feeds local, and its
// feeder goroutines are counted in h.wg.
func (h *host) newTunnel(id uint64, local net.Conn) *tunnel {
	t := &tunnel{id: id, local: local}
	t.q.Init(batchq.Config[queued]{
		Write: func(batch []queued) (int, error) { return h.feed(t, batch) },
		End:   func(_ error, unwritten []queued) { t.ended(unwritten) },
		Go:    h.spawn,
	})
	return t
}

// OpenSession implements pluginpb.HostServer.
func (h *host) OpenSession(_ context.Context, req *pluginpb.OpenSessionRequest) (*pluginpb.OpenSessionResponse, error) {
	engineEnd, local := inproc.Pipe()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "plugin host stopping")
	}
	h.nextID++
	t := h.newTunnel(h.nextID, local)
	h.sessions[t.id] = t
	h.wg.Add(2)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		// The client's HELLO, credentials included, arrives through Send.
		h.e.Serve(h.ctx, adapters.NewStreamConn(engineEnd, h.e.Options().MaxFrame), broker.Peer{Protocol: h.name, RemoteAddr: req.RemoteAddr})
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

// CloseSession implements pluginpb.HostServer: the session ends after
// the data sent before, and the call returns once it has.
func (h *host) CloseSession(ctx context.Context, req *pluginpb.CloseSessionRequest) (*pluginpb.CloseSessionResponse, error) {
	h.mu.Lock()
	t := h.sessions[req.SessionId]
	h.mu.Unlock()
	if t != nil {
		q := queued{ended: make(chan struct{})}
		if err := h.enqueue(ctx, t, q); err != nil {
			return nil, err
		}
		if err := h.await(ctx, q.ended); err != nil {
			return nil, err
		}
	}
	return &pluginpb.CloseSessionResponse{}, nil
}

// await waits for ch, or for the call or the host to end.
func (h *host) await(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-h.ctx.Done():
		return status.Error(codes.Unavailable, "plugin host stopping")
	}
}

// Send implements pluginpb.HostServer. Each piece is queued for its
// session's pipe; a session with maxQueued bytes not yet read by its
// engine holds up the batch, which is the backpressure the plugin feels.
// A session's end is applied after its data, and Send returns once the
// ends in its batch are: what a plugin sent before closing has then been
// read by the engine.
func (h *host) Send(ctx context.Context, b *pluginpb.DataBatch) (*pluginpb.SendResponse, error) {
	var resp pluginpb.SendResponse
	var ends []chan struct{}
	for _, item := range b.Items {
		h.mu.Lock()
		t := h.sessions[item.SessionId]
		h.mu.Unlock()
		if t == nil {
			resp.UnknownSessions = append(resp.UnknownSessions, item.SessionId)
			continue
		}
		q := queued{data: item.Data}
		if item.Closed {
			q = queued{ended: make(chan struct{})}
			ends = append(ends, q.ended)
		}
		switch err := h.enqueue(ctx, t, q); {
		case errors.Is(err, errEnded):
			// Ended by the engine or the plugin; pump tells the plugin too.
			resp.UnknownSessions = append(resp.UnknownSessions, item.SessionId)
		case err != nil:
			// The call or the host ended while waiting for room: nothing
			// after this piece may be queued, or the stream would have a
			// hole. The plugin ends its sessions when Send fails.
			return nil, err
		}
	}
	for _, ch := range ends {
		if err := h.await(ctx, ch); err != nil {
			return nil, err
		}
	}
	return &resp, nil
}

var errEnded = errors.New("session ended")

// enqueue queues q for t's pipe, waiting while the queue is full, and
// starts the feeder if it is not running. It returns errEnded if the
// session has ended, or the call's or the host's end while it waited.
func (h *host) enqueue(ctx context.Context, t *tunnel, q queued) error {
	t.mu.Lock()
	for t.size >= maxQueued && !t.dead {
		if t.space == nil {
			t.space = make(chan struct{})
		}
		space := t.space
		t.mu.Unlock()
		if err := h.await(ctx, space); err != nil {
			return err
		}
		t.mu.Lock()
	}
	// Still under t.mu, so that the check, the size and the queue agree.
	// (The queue ends with a failed write just before its End makes the
	// tunnel dead: a refused append is the same as dead.)
	ok := false
	if !t.dead {
		_, ok = t.q.Append(func(b []queued) []queued { return append(b, q) })
	}
	if !ok {
		t.mu.Unlock()
		if q.ended != nil {
			close(q.ended)
		}
		return errEnded
	}
	t.size += q.cost()
	t.mu.Unlock()
	return nil
}

// spawn is the tunnels' Config.Go: a feeder counted in h.wg, which close
// waits for, unless close has begun.
func (h *host) spawn(run func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		run()
	}()
	return true
}

// feed is the tunnels' Write: it writes a batch of pieces into t's pipe in
// order. A session's end, after its data, removes the session and ends the
// queue (errEnded), as does a failed write.
func (h *host) feed(t *tunnel, batch []queued) (int, error) {
	for i, q := range batch {
		var err error
		done := i + 1
		if q.ended != nil {
			h.remove(t.id)
			close(q.ended)
			err = errEnded
		} else if _, err = t.local.Write(q.data); err != nil {
			done = i
		}
		t.mu.Lock()
		t.size -= q.cost()
		if t.space != nil && t.size < maxQueued {
			close(t.space)
			t.space = nil
		}
		t.mu.Unlock()
		if err != nil {
			return done, err
		}
	}
	return len(batch), nil
}

// ended is the tunnels' End, after feed failed or met the session's end:
// what comes is dropped, and the ends still queued are answered.
func (t *tunnel) ended(unwritten []queued) {
	t.mu.Lock()
	t.dead, t.size = true, 0
	if t.space != nil {
		close(t.space)
		t.space = nil
	}
	t.mu.Unlock()
	for _, r := range unwritten {
		if r.ended != nil {
			close(r.ended)
		}
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
