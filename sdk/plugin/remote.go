package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/msgtrans/msgtrans/internal/batchq"
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

	// out holds the pieces on their way to the broker; its writer, the
	// sender, runs while there are some.
	out batchq.Queue[*pluginpb.SessionData]

	mu      sync.Mutex
	tunnels map[uint64]*tunnel
	stopped bool
	outSize int           // bytes queued and not yet in a Send call
	space   chan struct{} // made by a waiting writer, closed when outSize falls
}

// newRemote returns a remote whose Send calls run in ctx, which ends when
// the plugin stops.
func newRemote(ctx context.Context, hc pluginpb.HostClient, log *slog.Logger) *remote {
	r := &remote{
		hc: hc, log: log,
		readyCh: make(chan string, 1),
		tunnels: make(map[uint64]*tunnel),
	}
	r.out.Init(batchq.Config[*pluginpb.SessionData]{
		Write: func(items []*pluginpb.SessionData) (int, error) { return r.sendBatch(ctx, items) },
		End: func(err error, _ []*pluginpb.SessionData) {
			if err != nil && ctx.Err() == nil {
				r.log.Error("sending to the broker failed", "err", err)
			}
			r.ended(err)
		},
	})
	return r
}

func (r *remote) ready(status string) { r.readyCh <- status } // Host calls it once

// stop refuses new sessions and new data: the plugin is stopping.
func (r *remote) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

func (r *remote) open(ctx context.Context, p Peer) (sdk.Transport, error) {
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	if stopped {
		return nil, ErrStopped
	}
	resp, err := r.hc.OpenSession(ctx, &pluginpb.OpenSessionRequest{RemoteAddr: p.RemoteAddr})
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
	r.mu.Lock()
	for !closed && !r.stopped && r.outSize >= maxOut {
		if r.space == nil {
			r.space = make(chan struct{})
		}
		space := r.space
		r.mu.Unlock()
		select {
		case <-space:
		case <-deadline:
			return errDeadline
		}
		r.mu.Lock()
	}
	defer r.mu.Unlock()
	if r.stopped && !closed {
		return ErrStopped
	}
	// Queued under r.mu, so that stop and flush see every piece that got
	// past the stopped check.
	if _, ok := r.out.Append(func(q []*pluginpb.SessionData) []*pluginpb.SessionData {
		return r.appendPieces(q, id, data, closed)
	}); !ok {
		return ErrStopped // the link to the broker failed, or the plugin stopped
	}
	return nil
}

// appendPieces appends data to q in pieces of at most maxPiece bytes (a
// frame may be larger than a gRPC message can carry). r.mu is held.
func (r *remote) appendPieces(q []*pluginpb.SessionData, id uint64, data []byte, closed bool) []*pluginpb.SessionData {
	for len(data) > 0 {
		k := min(len(data), maxPiece)
		q = append(q, &pluginpb.SessionData{SessionId: id, Data: append([]byte(nil), data[:k]...)})
		r.outSize += k + itemOverhead
		data = data[k:]
	}
	if closed {
		q = append(q, &pluginpb.SessionData{SessionId: id, Closed: true})
		r.outSize += itemOverhead
	}
	return q
}

// sendBatch is the queue's Write: it sends the pieces to the broker in
// calls of at least one piece and no more than about maxBatch bytes.
func (r *remote) sendBatch(ctx context.Context, items []*pluginpb.SessionData) (int, error) {
	done := 0
	for done < len(items) {
		n, size := 0, 0
		for done+n < len(items) {
			sz := len(items[done+n].Data) + itemOverhead
			if n > 0 && size+sz > maxBatch {
				break
			}
			size += sz
			n++
		}
		r.mu.Lock()
		r.outSize -= size
		r.roomLocked()
		r.mu.Unlock()
		resp, err := r.hc.Send(ctx, &pluginpb.DataBatch{Items: items[done : done+n]})
		if err != nil {
			return done, err
		}
		done += n
		for _, id := range resp.UnknownSessions {
			r.end(id)
		}
	}
	return done, nil
}

// roomLocked wakes the writers waiting for room. r.mu is held.
func (r *remote) roomLocked() {
	if r.space != nil {
		close(r.space)
		r.space = nil
	}
}

// ended is the queue's End: after a failed Send every session ends, and
// writers waiting for room go on to find the queue ended.
func (r *remote) ended(err error) {
	r.mu.Lock()
	r.outSize = 0
	r.roomLocked()
	r.mu.Unlock()
	if err != nil {
		r.endAll()
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
func (r *remote) flush(ctx context.Context) { r.out.Drained(ctx.Done()) }

// close drops what is still queued (the Send calls' context has ended) and
// waits for the sender to finish.
func (r *remote) close() {
	r.out.Close(func(q []*pluginpb.SessionData) []*pluginpb.SessionData { return q[:0] })
	r.out.Wait()
}

func (r *remote) forget(id uint64) {
	r.mu.Lock()
	delete(r.tunnels, id)
	r.mu.Unlock()
}
