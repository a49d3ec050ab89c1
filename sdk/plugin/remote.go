package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/msgtrans/msgtrans/plugins/pluginpb"
	"github.com/msgtrans/msgtrans/sdk"
)

// remote is the backend of a Host in a plugin process: each session is a
// tunnel, its bytes batched for all sessions into gRPC calls to the
// broker's Host service.
type remote struct {
	hc      pluginpb.HostClient
	log     *slog.Logger
	readyCh chan string // Start waits for the status

	mu      sync.Mutex
	tunnels map[uint64]*tunnel
	stopped bool
	out     []*pluginpb.SessionData // waiting for the sender
	outSize int
	sending bool // a batch is on its way
	kick    chan struct{}
	space   chan struct{} // closed and replaced whenever the sender takes a batch
}

func newRemote(hc pluginpb.HostClient, log *slog.Logger) *remote {
	return &remote{
		hc: hc, log: log,
		readyCh: make(chan string, 1),
		tunnels: make(map[uint64]*tunnel),
		kick:    make(chan struct{}, 1),
		space:   make(chan struct{}),
	}
}

func (r *remote) ready(status string) { r.readyCh <- status } // Host calls it once

// stop refuses new sessions and new data: the plugin is stopping.
func (r *remote) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

func (r *remote) open(ctx context.Context, remoteAddr string) (sdk.Transport, error) {
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	if stopped {
		return nil, ErrStopped
	}
	resp, err := r.hc.OpenSession(ctx, &pluginpb.OpenSessionRequest{RemoteAddr: remoteAddr})
	if err != nil {
		return nil, fmt.Errorf("plugin: open session: %w", err)
	}
	t := newTunnel(r, resp.SessionId)
	r.mu.Lock()
	r.tunnels[t.id] = t
	r.mu.Unlock()
	return t, nil
}

// Bounds of the data on its way to the broker: writers wait while maxOut
// bytes are queued; one piece carries at most maxPiece bytes of a session
// and one Send call at most about maxBatch bytes, well under gRPC's 4 MiB
// message limit however the queue is made up. (Pieces are not merged: one
// per tunnel write measured faster than appending writes to a piece.)
const (
	maxOut   = 4 << 20
	maxPiece = 256 << 10
	maxBatch = 1 << 20
	// itemOverhead is a generous estimate of what protobuf adds to a piece.
	itemOverhead = 32
)

// send queues data (or the end, with closed) of one session for the
// broker; it waits while too much is queued, until deadline.
func (r *remote) send(id uint64, data []byte, closed bool, deadline <-chan struct{}) error {
	for {
		r.mu.Lock()
		if r.stopped && !closed {
			r.mu.Unlock()
			return ErrStopped
		}
		if r.outSize < maxOut || closed {
			r.queueLocked(id, data, closed)
			r.mu.Unlock()
			select {
			case r.kick <- struct{}{}:
			default:
			}
			return nil
		}
		space := r.space
		r.mu.Unlock()
		select {
		case <-space:
		case <-deadline:
			return errDeadline
		}
	}
}

// queueLocked appends data to the queue in pieces of at most maxPiece
// bytes (a frame may be larger than a gRPC message can carry).
func (r *remote) queueLocked(id uint64, data []byte, closed bool) {
	for len(data) > 0 {
		k := min(len(data), maxPiece)
		r.out = append(r.out, &pluginpb.SessionData{SessionId: id, Data: append([]byte(nil), data[:k]...)})
		r.outSize += k + itemOverhead
		data = data[k:]
	}
	if closed {
		r.out = append(r.out, &pluginpb.SessionData{SessionId: id, Closed: true})
		r.outSize += itemOverhead
	}
}

// takeLocked removes and returns the pieces for one Send call: at least
// one, and no more than about maxBatch bytes.
func (r *remote) takeLocked() []*pluginpb.SessionData {
	n, size := 0, 0
	for n < len(r.out) {
		sz := len(r.out[n].Data) + itemOverhead
		if n > 0 && size+sz > maxBatch {
			break
		}
		size += sz
		n++
	}
	items := r.out[:n:n]
	r.out = r.out[n:]
	if len(r.out) == 0 {
		r.out = nil
	}
	r.outSize -= size
	return items
}

// sendLoop sends queued session data to the broker in batches until ctx
// ends.
func (r *remote) sendLoop(ctx context.Context) {
	for {
		select {
		case <-r.kick:
		case <-ctx.Done():
			return
		}
		for {
			r.mu.Lock()
			items := r.takeLocked()
			r.sending = len(items) > 0
			close(r.space)
			r.space = make(chan struct{})
			r.mu.Unlock()
			if len(items) == 0 {
				break
			}
			resp, err := r.hc.Send(ctx, &pluginpb.DataBatch{Items: items})
			r.mu.Lock()
			r.sending = false
			close(r.space)
			r.space = make(chan struct{})
			r.mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					r.log.Error("sending to the broker failed", "err", err)
				}
				r.endAll()
				return
			}
			for _, id := range resp.UnknownSessions {
				r.end(id)
			}
		}
	}
}

// receiveLoop hands the broker's bytes to their sessions until the stream
// ends.
func (r *remote) receiveLoop(stream interface {
	Recv() (*pluginpb.DataBatch, error)
}) error {
	for {
		b, err := stream.Recv()
		if err != nil {
			r.endAll()
			return err
		}
		for _, item := range b.Items {
			r.mu.Lock()
			t := r.tunnels[item.SessionId]
			if item.Closed {
				delete(r.tunnels, item.SessionId)
			}
			r.mu.Unlock()
			if t != nil {
				t.deliver(item.Data, item.Closed)
			}
		}
	}
}

// end marks one session as ended by the broker.
func (r *remote) end(id uint64) {
	r.mu.Lock()
	t := r.tunnels[id]
	delete(r.tunnels, id)
	r.mu.Unlock()
	if t != nil {
		t.deliver(nil, true)
	}
}

func (r *remote) endAll() {
	r.mu.Lock()
	ts := r.tunnels
	r.tunnels = make(map[uint64]*tunnel)
	r.mu.Unlock()
	for _, t := range ts {
		t.deliver(nil, true)
	}
}

// flush waits until everything queued for the broker has been sent, or
// ctx ends.
func (r *remote) flush(ctx context.Context) {
	for {
		r.mu.Lock()
		empty, space := len(r.out) == 0 && !r.sending, r.space
		r.mu.Unlock()
		if empty {
			return
		}
		select {
		case <-space:
		case <-ctx.Done():
			return
		}
	}
}

func (r *remote) forget(id uint64) {
	r.mu.Lock()
	delete(r.tunnels, id)
	r.mu.Unlock()
}
