// Package inproc is the in-process transport: a client in the broker's own
// program reaches the session engine through an in-memory pipe, with no
// socket, no syscall and one copy per direction. Protocols linked into the
// broker (plugins) reach it this way, and so does a program that embeds the
// broker and talks to it with the Go SDK:
//
//	srv := inproc.New(engine, "inproc")
//	nc, err := sdk.Connect("inproc://", sdk.CustomDialer(
//		func(ctx context.Context, _ *url.URL) (sdk.Transport, error) { return srv.Dial(ctx, "embedded") }))
package inproc

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/broker"
)

// ErrClosed is returned by Dial once the Server is closed.
var ErrClosed = errors.New("inproc: closed")

// Server opens sessions of an engine for clients in the same process. Each
// session runs the engine on one end of a Pipe, on a goroutine the Server
// owns; Close ends them and waits.
type Server struct {
	e        *adapters.Engine
	protocol string
	ctx      context.Context
	end      context.CancelCauseFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // one per session
}

// New returns a Server whose sessions are counted under protocol.
func New(e *adapters.Engine, protocol string) *Server {
	ctx, end := context.WithCancelCause(context.Background())
	return &Server{e: e, protocol: protocol, ctx: ctx, end: end}
}

// Dial opens a connection to the engine and returns the client's end; the
// client speaks the native protocol on it (HELLO first, as over TCP), so
// the broker authenticates and limits it like any other. remoteAddr names
// the client in the broker's logs and stats.
func (s *Server) Dial(ctx context.Context, remoteAddr string) (net.Conn, error) {
	return s.DialPeer(ctx, broker.Peer{RemoteAddr: remoteAddr})
}

// DialPeer is Dial for a client described by p (its address and TLS
// state); the protocol is the server's.
func (s *Server) DialPeer(ctx context.Context, p broker.Peer) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	engineEnd, clientEnd := Pipe()
	go func() {
		defer s.wg.Done()
		p.Protocol = s.protocol
		s.e.Serve(s.ctx, adapters.NewStreamConn(engineEnd, s.e.Options().MaxFrame), p)
	}()
	return clientEnd, nil
}

// Close refuses new connections, ends every session with cause (the reason
// the broker records for them), and returns once all have ended.
func (s *Server) Close(cause error) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.end(cause)
	s.wg.Wait()
}
