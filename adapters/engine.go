package adapters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// Defaults for Options fields left zero.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultFrameTimeout     = 20 * time.Second
)

// Options tunes the native-protocol sessions of one adapter.
type Options struct {
	// HandshakeTimeout bounds the time from accept to a complete HELLO.
	HandshakeTimeout time.Duration
	// PingInterval is how often the server PINGs a connected client.
	PingInterval time.Duration
	// DeadPeerTimeout closes a connection from which nothing (not even a
	// PONG) arrived for this long. Default: two ping intervals. It is checked
	// at each ping, so it acts in steps of PingInterval.
	DeadPeerTimeout time.Duration
	// WriteTimeout closes a connection whose single write blocks this long.
	WriteTimeout time.Duration
	// MaxFrame is the largest frame body accepted. Default: the broker's
	// MaxPayload plus 64 KiB for topics and headers.
	MaxFrame int
	// FrameTimeout bounds how long a frame that has begun to arrive may
	// take to complete, after the handshake; a client slower than that is
	// closed (code STALE). It keeps a client that trickles a large frame
	// from holding a connection and its buffer; raise it for very large
	// frames over slow links. Default DefaultFrameTimeout; negative turns
	// it off (the dead-peer timeout still applies).
	FrameTimeout time.Duration
}

// Engine runs native-protocol sessions against a broker.
type Engine struct {
	b    *broker.Broker
	opts Options
	ver  string
	// pool lends the read buffers for frames over 64 KiB to the sessions
	// reading them, and takes them back once the frame is consumed.
	pool wire.Pool
	// scratch holds the readers' *scratch, lent for a burst of frames.
	scratch sync.Pool
	// wheel pings every session once per PingInterval, from one timer;
	// epoch is what sessions' times are counted from; ping is the PING
	// frame the wheel writes.
	wheel *pingWheel
	epoch time.Time
	ping  []byte
	// watches closes sessions when the context they were served with ends.
	watches watches
	// chunks recycles the full-size output chunks of sessions with a
	// backlog (*outChunk; see session.chunkLocked).
	chunks sync.Pool
}

// NewEngine returns an engine for b. version is announced in WELCOME.
func NewEngine(b *broker.Broker, opts Options, version string) (*Engine, error) {
	if opts.HandshakeTimeout == 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.DeadPeerTimeout == 0 {
		opts.DeadPeerTimeout = 2 * opts.PingInterval
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.MaxFrame == 0 {
		opts.MaxFrame = b.Options().MaxPayload + 64<<10
	}
	if opts.FrameTimeout == 0 {
		opts.FrameTimeout = DefaultFrameTimeout
	}
	switch {
	case opts.HandshakeTimeout < 0 || opts.PingInterval < 0 || opts.WriteTimeout < 0:
		return nil, errors.New("adapters: timeouts must not be negative")
	case opts.DeadPeerTimeout < opts.PingInterval:
		return nil, fmt.Errorf("adapters: dead-peer timeout %v is shorter than the ping interval %v", opts.DeadPeerTimeout, opts.PingInterval)
	case opts.MaxFrame < b.Options().MaxPayload:
		return nil, fmt.Errorf("adapters: max frame %d is below the max payload %d", opts.MaxFrame, b.Options().MaxPayload)
	}
	e := &Engine{b: b, opts: opts, ver: version, epoch: time.Now(), ping: wire.AppendPing(nil)}
	e.wheel = newPingWheel(opts.PingInterval, (*session).ping)
	// Large read buffers are the engine's share of the memory budget.
	b.AddMemorySource(e.pool.Lent)
	return e, nil
}

// Options returns the engine's options, defaults filled in.
func (e *Engine) Options() Options { return e.opts }

// Serve runs one session over fc until the peer leaves, the broker closes
// the session, or ctx is cancelled (then the connection is closed at once).
// A StreamConn with a Poller (SetPoller) may park when its session is
// quiet: Serve then returns nil at once, and the session goes on on the
// poller's goroutines; the adapter waits for those with Poller.Close.
// peer describes the connection to the broker (its authenticator sees it;
// a TLS transport completes the TLS handshake first). Serve closes fc
// and returns after every goroutine it started has ended; the error says why
// the session ended (nil for a clean close by the client).
func (e *Engine) Serve(ctx context.Context, fc FrameConn, peer broker.Peer) error {
	ss := newSession(e, fc)
	e.watches.add(ctx, ss)
	if r, ok := fc.(frameReader); ok {
		r.SetPool(&e.pool)
	}
	s, welcome, err := e.open(fc, peer, ss)
	if err != nil {
		e.watches.remove(ss)
		if r, ok := fc.(frameReader); ok {
			r.Release()
		}
		return err
	}
	ss.s.Store(s)
	ss.start(welcome)

	parked, reason := ss.readLoop(false)
	if parked {
		// The poller's goroutines take the session on from here.
		return nil
	}
	return ss.finish(reason)
}

// finish ends a session whose reader has stopped, on whichever goroutine
// that happened (Serve's, or one a parked session resumed on), and returns
// why it ended.
func (ss *session) finish(reason error) error {
	if w := ss.watch; w != nil && w.ctx.Err() != nil && reason != nil && !errors.Is(reason, broker.ErrShutdown) {
		// The read failed because ctx closed the connection: say why,
		// before the bare network error becomes the session's reason.
		reason = fmt.Errorf("adapter stopped: %w", context.Cause(w.ctx))
	}
	ss.stop(reason)
	ss.wait()
	ss.fc.Close()
	ss.s.Load().Close(reason)
	ss.e.watches.remove(ss)
	if r, ok := ss.fc.(frameReader); ok {
		r.Release() // after the last read, and last: it lets a parked session's adapter return
	}
	return ss.closeReason()
}

// welcome is the WELCOME for a session opened by hello: with the max frame
// and the dead-peer timeout when the client asked for them.
func (e *Engine) welcome(hello *wire.Hello, sid uint64) *wire.Welcome {
	w := &wire.Welcome{
		Version: wire.Version, ServerID: e.b.ID(), ServerVersion: e.ver, SessionID: sid,
		MaxPayload:  uint32(e.b.Options().MaxPayload),
		HeartbeatMS: uint32(e.opts.PingInterval / time.Millisecond),
	}
	if hello.WantLimits {
		w.MaxFrame = uint32(min(e.opts.MaxFrame, math.MaxUint32-wire.MsgOverhead))
		w.DeadPeerMS = uint32(max(e.opts.DeadPeerTimeout/time.Millisecond, 1))
	}
	return w
}

// open reads the client's HELLO and connects its session to the broker;
// on failure it has told the client why and closed fc. It returns the
// session and its WELCOME frame. It is a function of
// its own so that its locals are off the stack by the time Serve waits for
// the peer: an idle session's goroutine stack must stay small enough for
// the garbage collector to shrink it (see readLoop).
func (e *Engine) open(fc FrameConn, peer broker.Peer, ss *session) (*broker.Session, []byte, error) {
	var f wire.Frame
	hello, err := e.handshake(fc, &f)
	if err != nil {
		e.reject(fc, err)
		return nil, nil, err
	}
	if r, ok := fc.(frameReader); ok && e.opts.FrameTimeout > 0 {
		r.SetStallTimeout(e.opts.FrameTimeout)
	}
	info := broker.SessionInfo{Peer: peer, Name: hello.Name, NoEcho: hello.NoEcho}
	cred := broker.Credentials{Token: hello.Token, User: hello.User, Password: hello.Pass}
	s, err := e.b.Connect(info, cred, ss)
	if err != nil {
		e.reject(fc, err)
		return nil, nil, err
	}
	if w := hello.Will; w != nil {
		err := s.SetWill(&broker.Will{
			Topic: w.Topic, Header: w.Header, Payload: w.Payload, Retain: w.Retain,
			TTL: time.Duration(w.TTL) * time.Millisecond, Delay: time.Duration(w.DelayMS) * time.Millisecond,
		})
		if err != nil {
			e.reject(fc, err)
			s.Close(err)
			return nil, nil, err
		}
	}
	return s, wire.AppendWelcome(nil, e.welcome(&hello, s.ID())), nil
}

// handshake reads the client's HELLO within the handshake timeout.
func (e *Engine) handshake(fc FrameConn, f *wire.Frame) (wire.Hello, error) {
	if err := fc.SetReadDeadline(time.Now().Add(e.opts.HandshakeTimeout)); err != nil {
		return wire.Hello{}, err
	}
	// Until the client has identified itself it may not make the broker
	// set aside a large frame buffer.
	if l, ok := fc.(frameLimiter); ok {
		l.SetMaxFrame(maxHelloFrame)
		defer l.SetMaxFrame(e.opts.MaxFrame)
	}
	if err := fc.ReadFrame(f); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return wire.Hello{}, ErrHandshakeTimeout
		}
		return wire.Hello{}, err
	}
	if f.Type != wire.TypeHello {
		return wire.Hello{}, fmt.Errorf("%w: expected HELLO, got %v", ErrProtocol, f.Type)
	}
	if f.Hello.Version != wire.Version {
		return wire.Hello{}, fmt.Errorf("%w: client speaks %d, server %d", ErrVersion, f.Hello.Version, wire.Version)
	}
	if err := fc.SetReadDeadline(time.Time{}); err != nil {
		return wire.Hello{}, err
	}
	return f.Hello, nil
}

// maxHelloFrame bounds the HELLO frame: names and credentials.
const maxHelloFrame = 64 << 10

// frameLimiter is implemented by FrameConns whose frame limit can change.
type frameLimiter interface{ SetMaxFrame(n int) }

// frameReader is implemented by FrameConns that read frames with a
// wire.Reader: they can borrow large buffers from the engine's pool and
// bound the time a begun frame takes.
type frameReader interface {
	SetPool(p *wire.Pool)
	SetStallTimeout(d time.Duration)
	// Release gives borrowed buffers back once reading is over.
	Release()
}

// reject tells a client that could not open a session why, and closes.
func (e *Engine) reject(fc FrameConn, err error) {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
		fc.SetWriteDeadline(time.Now().Add(time.Second))
		fc.WriteFrames(wire.AppendErr(nil, true, Code(err), 0, err.Error()))
	}
	fc.Close()
}
