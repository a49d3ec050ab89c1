package adapters

import (
	"context"
	"sync"
)

// watches closes the connections of an engine's sessions when the context
// they were served with ends: one context.AfterFunc per context (in
// practice one per adapter) holding the set of its live sessions, not one
// per session. A parked session has no goroutine that could watch its
// context; closing its connection takes it off the poller, and it ends.
type watches struct {
	mu     sync.Mutex
	byDone map[<-chan struct{}]*watch // by ctx.Done(): contexts that end together share a watch
}

// watch is one context's set of live sessions.
type watch struct {
	ctx      context.Context
	stop     func() bool // undoes the AfterFunc
	sessions []*session  // each at its gidx
	closed   bool        // ctx ended: sessions joining are closed at once
}

// add watches ctx for ss: when ctx ends, ss's connection is closed (at
// once if it has ended already). A context that never ends is not watched.
func (ws *watches) add(ctx context.Context, ss *session) {
	done := ctx.Done()
	if done == nil {
		return
	}
	ws.mu.Lock()
	w := ws.byDone[done]
	if w == nil {
		if ws.byDone == nil {
			ws.byDone = make(map[<-chan struct{}]*watch)
		}
		w = &watch{ctx: ctx}
		ws.byDone[done] = w
		w.stop = context.AfterFunc(ctx, func() { ws.fire(w) })
	}
	ss.watch, ss.gidx = w, int32(len(w.sessions))
	w.sessions = append(w.sessions, ss)
	closed := w.closed
	ws.mu.Unlock()
	if closed {
		ss.fc.Close()
	}
}

// remove stops watching for ss; the last session of a context takes its
// watch away (a context served once does not stay in the map).
func (ws *watches) remove(ss *session) {
	w := ss.watch
	if w == nil {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	last := len(w.sessions) - 1
	w.sessions[ss.gidx] = w.sessions[last]
	w.sessions[ss.gidx].gidx = ss.gidx
	w.sessions[last] = nil
	w.sessions = w.sessions[:last]
	if last == 0 {
		w.stop()
		delete(ws.byDone, w.ctx.Done())
	}
}

// fire runs when w's context ends: it closes every session's connection,
// parked or not. Each session then ends on its own goroutine and removes
// itself.
func (ws *watches) fire(w *watch) {
	ws.mu.Lock()
	w.closed = true
	live := append([]*session(nil), w.sessions...)
	ws.mu.Unlock()
	for _, ss := range live {
		ss.fc.Close()
	}
}
