package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"

	"github.com/msgtrans/msgtrans/plugins/pluginpb"
	"github.com/msgtrans/msgtrans/sdk"
)

// ErrStopped is returned by Connect once the plugin is stopping.
var ErrStopped = errors.New("plugin: stopping")

// Host is the plugin's handle on the broker.
type Host struct {
	name     string
	settings map[string]string
	log      *slog.Logger
	hc       pluginpb.HostClient
	ready    chan string

	mu      sync.Mutex
	tunnels map[uint64]*tunnel
	stopped bool
	out     []*pluginpb.SessionData // waiting for the sender
	outSize int
	sending bool // a batch is on its way
	kick    chan struct{}
	space   chan struct{} // closed and replaced whenever the sender takes a batch
}

func newHost(name string, settings map[string]string, hc pluginpb.HostClient, log *slog.Logger) *Host {
	return &Host{
		name: name, settings: settings, hc: hc, log: log,
		ready:   make(chan string, 1),
		tunnels: make(map[uint64]*tunnel),
		kick:    make(chan struct{}, 1),
		space:   make(chan struct{}),
	}
}

// Name returns the plugin's name in the broker's configuration.
func (h *Host) Name() string { return h.name }

// Setting returns the value of key in the plugin's settings, or def.
func (h *Host) Setting(key, def string) string {
	if v, ok := h.settings[key]; ok {
		return v
	}
	return def
}

// Settings returns a copy of all the plugin's settings.
func (h *Host) Settings() map[string]string {
	m := make(map[string]string, len(h.settings))
	for k, v := range h.settings {
		m[k] = v
	}
	return m
}

// Logger returns a logger whose lines appear in the broker's log, with the
// plugin's name, at their level.
func (h *Host) Logger() *slog.Logger { return h.log }

// Ready tells the broker that the plugin accepts clients; status (such as
// the listen address) goes into the broker's log. Call it once.
func (h *Host) Ready(status string) {
	select {
	case h.ready <- status:
	default:
	}
}

// Connect opens a broker session for one client of the plugin. remoteAddr
// is the client's address for the broker's logs and stats; opts are sdk
// options such as sdk.Name, sdk.Token, sdk.UserInfo and sdk.NoEcho (the
// broker authenticates the session with them). Reconnecting does not
// apply: a session ends with its client or with the broker.
func (h *Host) Connect(ctx context.Context, remoteAddr string, opts ...sdk.Option) (*sdk.Conn, error) {
	dial := func(ctx context.Context, _ *url.URL) (sdk.Transport, error) { return h.open(ctx, remoteAddr) }
	opts = append(opts, sdk.CustomDialer(dial), sdk.MaxReconnects(0))
	return sdk.Connect("plugin://"+h.name, opts...)
}

func (h *Host) open(ctx context.Context, remoteAddr string) (*tunnel, error) {
	h.mu.Lock()
	stopped := h.stopped
	h.mu.Unlock()
	if stopped {
		return nil, ErrStopped
	}
	resp, err := h.hc.OpenSession(ctx, &pluginpb.OpenSessionRequest{RemoteAddr: remoteAddr})
	if err != nil {
		return nil, fmt.Errorf("plugin: open session: %w", err)
	}
	t := newTunnel(h, resp.SessionId)
	h.mu.Lock()
	h.tunnels[t.id] = t
	h.mu.Unlock()
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
func (h *Host) send(id uint64, data []byte, closed bool, deadline <-chan struct{}) error {
	for {
		h.mu.Lock()
		if h.stopped && !closed {
			h.mu.Unlock()
			return ErrStopped
		}
		if h.outSize < maxOut || closed {
			h.queueLocked(id, data, closed)
			h.mu.Unlock()
			select {
			case h.kick <- struct{}{}:
			default:
			}
			return nil
		}
		space := h.space
		h.mu.Unlock()
		select {
		case <-space:
		case <-deadline:
			return errDeadline
		}
	}
}

// queueLocked appends data to the queue in pieces of at most maxPiece
// bytes (a frame may be larger than a gRPC message can carry).
func (h *Host) queueLocked(id uint64, data []byte, closed bool) {
	for len(data) > 0 {
		k := min(len(data), maxPiece)
		h.out = append(h.out, &pluginpb.SessionData{SessionId: id, Data: append([]byte(nil), data[:k]...)})
		h.outSize += k + itemOverhead
		data = data[k:]
	}
	if closed {
		h.out = append(h.out, &pluginpb.SessionData{SessionId: id, Closed: true})
		h.outSize += itemOverhead
	}
}

// takeLocked removes and returns the pieces for one Send call: at least
// one, and no more than about maxBatch bytes.
func (h *Host) takeLocked() []*pluginpb.SessionData {
	n, size := 0, 0
	for n < len(h.out) {
		sz := len(h.out[n].Data) + itemOverhead
		if n > 0 && size+sz > maxBatch {
			break
		}
		size += sz
		n++
	}
	items := h.out[:n:n]
	h.out = h.out[n:]
	if len(h.out) == 0 {
		h.out = nil
	}
	h.outSize -= size
	return items
}

// sendLoop sends queued session data to the broker in batches until ctx
// ends.
func (h *Host) sendLoop(ctx context.Context) {
	for {
		select {
		case <-h.kick:
		case <-ctx.Done():
			return
		}
		for {
			h.mu.Lock()
			items := h.takeLocked()
			h.sending = len(items) > 0
			close(h.space)
			h.space = make(chan struct{})
			h.mu.Unlock()
			if len(items) == 0 {
				break
			}
			resp, err := h.hc.Send(ctx, &pluginpb.DataBatch{Items: items})
			h.mu.Lock()
			h.sending = false
			close(h.space)
			h.space = make(chan struct{})
			h.mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					h.log.Error("sending to the broker failed", "err", err)
				}
				h.endAll()
				return
			}
			for _, id := range resp.UnknownSessions {
				h.end(id)
			}
		}
	}
}

// receiveLoop hands the broker's bytes to their sessions until the stream
// ends.
func (h *Host) receiveLoop(stream interface {
	Recv() (*pluginpb.DataBatch, error)
}) error {
	for {
		b, err := stream.Recv()
		if err != nil {
			h.endAll()
			return err
		}
		for _, item := range b.Items {
			h.mu.Lock()
			t := h.tunnels[item.SessionId]
			if item.Closed {
				delete(h.tunnels, item.SessionId)
			}
			h.mu.Unlock()
			if t != nil {
				t.deliver(item.Data, item.Closed)
			}
		}
	}
}

// end marks one session as ended by the broker.
func (h *Host) end(id uint64) {
	h.mu.Lock()
	t := h.tunnels[id]
	delete(h.tunnels, id)
	h.mu.Unlock()
	if t != nil {
		t.deliver(nil, true)
	}
}

func (h *Host) endAll() {
	h.mu.Lock()
	ts := h.tunnels
	h.tunnels = make(map[uint64]*tunnel)
	h.mu.Unlock()
	for _, t := range ts {
		t.deliver(nil, true)
	}
}

// flush waits until everything queued for the broker has been sent, or
// ctx ends.
func (h *Host) flush(ctx context.Context) {
	for {
		h.mu.Lock()
		empty, space := len(h.out) == 0 && !h.sending, h.space
		h.mu.Unlock()
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

func (h *Host) forget(id uint64) {
	h.mu.Lock()
	delete(h.tunnels, id)
	h.mu.Unlock()
}
