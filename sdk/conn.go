// Package sdk is the Go client of msgtrans: one API over tcp:// and tls://
// URLs, with publish, subscribe, queue groups, request-reply, acknowledged
// publishes, and reconnects that restore subscriptions and keep publishing.
package sdk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/wire"
)

// clientMaxFrame bounds the frames the client accepts during the handshake,
// and afterwards from a server too old to announce its max frame in
// WELCOME: large enough for any payload a broker may be configured for,
// small enough that a broken server cannot make the client allocate
// without bound. A server that announces max_frame sets the limit instead.
const clientMaxFrame = 64<<20 + 64<<10

type state int

const (
	stateConnected state = iota
	stateReconnecting
	stateClosed
)

// Conn is a connection to a msgtrans broker. It is safe for concurrent use.
type Conn struct {
	opts Options
	urls []*url.URL

	mu      sync.Mutex
	state   state
	tr      transport
	url     *url.URL
	welcome wire.Welcome
	wbuf    []byte // frames waiting for the writer
	spare   []byte
	room    sync.Cond // publishers wait here while wbuf is full (maxWriteBuf)
	// writerUp: a writer goroutine is taking wbuf; publishers wait for room
	// only then.
	writerUp bool
	nextSID  uint32
	acks     ackQueue
	nextAck  uint64
	pongs    []pongWaiter
	inbox    string // "_INBOX.<random>." once the first request is made (under inboxMu too)
	resps    map[string]chan *Msg
	nextReq  uint64
	lastErr  error

	inboxMu  sync.Mutex
	inboxSub *Subscription

	subsMu sync.RWMutex
	subs   map[uint32]*Subscription

	// pool lends the reader its buffers for large messages, so that a
	// stream of them does not allocate one buffer per message.
	pool wire.Pool

	kick     chan struct{}
	closedCh chan struct{}
	done     chan struct{} // the run goroutine has ended

	// User handlers are called in order on one goroutine; the queue is
	// unbounded so that the reader never waits on a handler (a handler may
	// itself wait on the connection).
	evMu    sync.Mutex
	events  []evItem
	evSpare []evItem // the handler goroutine's last batch, reused
	evWake  chan struct{}
	evDone  chan struct{} // the handler goroutine has ended
	evGoID  atomic.Uint64 // the handler goroutine's id (see goid)

	framesIn   atomic.Uint64
	inMsgs     atomic.Uint64
	inBytes    atomic.Uint64
	outMsgs    atomic.Uint64
	outBytes   atomic.Uint64
	reconnects atomic.Uint64
}

// Statistics are a connection's counters.
type Statistics struct {
	InMsgs, InBytes, OutMsgs, OutBytes uint64
	Reconnects                         uint64
}

// Connect connects to the first server of the comma-separated URL list that
// answers (tcp://host:port, tls://host:port). A lost connection is
// re-established through the same list, in order.
func Connect(urls string, opts ...Option) (*Conn, error) {
	c := &Conn{
		opts:     defaultOptions(),
		resps:    make(map[string]chan *Msg),
		subs:     make(map[uint32]*Subscription),
		kick:     make(chan struct{}, 1),
		closedCh: make(chan struct{}),
		done:     make(chan struct{}),
		evWake:   make(chan struct{}, 1),
		evDone:   make(chan struct{}),
	}
	c.room.L = &c.mu
	for _, o := range opts {
		if err := o(&c.opts); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{c.opts.Name, c.opts.Token, c.opts.User, c.opts.Password} {
		if len(f) > wire.MaxString {
			return nil, fmt.Errorf("sdk: name and credentials must be at most %d bytes", wire.MaxString)
		}
	}
	var err error
	if c.urls, err = parseURLs(urls, c.opts.dialer != nil); err != nil {
		return nil, err
	}
	var errs []error
	for _, u := range c.urls {
		tr, r, w, err := c.connectOne(u)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.Redacted(), err))
			var se *ServerError
			if errors.As(err, &se) && se.Code == wire.CodeAuth {
				return nil, err
			}
			continue
		}
		c.tr, c.url, c.welcome = tr, u, w
		go c.runEvents()
		go c.run(tr, r)
		return c, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrNoServers, errors.Join(errs...))
}

// connectOne dials u and completes the handshake.
func (c *Conn) connectOne(u *url.URL) (transport, *wire.Reader, wire.Welcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ConnectTimeout)
	defer cancel()
	tr, err := c.dial(ctx, u)
	if err != nil {
		return nil, nil, wire.Welcome{}, err
	}
	fail := func(err error) (transport, *wire.Reader, wire.Welcome, error) {
		tr.Close()
		return nil, nil, wire.Welcome{}, err
	}
	deadline, _ := ctx.Deadline()
	tr.SetDeadline(deadline)
	hello := wire.AppendHello(nil, &wire.Hello{
		Version: wire.Version, NoEcho: c.opts.NoEcho, Name: c.opts.Name,
		Token: c.opts.Token, User: c.opts.User, Pass: c.opts.Password, Will: c.opts.will,
		WantLimits: true,
	})
	if _, err := tr.Write(hello); err != nil {
		return fail(err)
	}
	r := wire.NewReader(tr, clientMaxFrame)
	r.SetPool(&c.pool)
	// A large payload is read into the message's own buffer: one
	// allocation the user keeps, no read buffer as large as the frame.
	r.SetOwnedPayloads(ownedPayload, newPayload)
	var f wire.Frame
	if err := r.Next(&f); err != nil {
		return fail(fmt.Errorf("handshake: %w", err))
	}
	switch f.Type {
	case wire.TypeWelcome:
	case wire.TypeErr:
		return fail(serverError(f.Code, f.Text, true))
	default:
		return fail(fmt.Errorf("handshake: unexpected %v frame", f.Type))
	}
	tr.SetDeadline(time.Time{})
	if f.Welcome.MaxFrame != 0 {
		// Every frame the server may send fits this limit, which follows
		// its configuration rather than a guess.
		n := wire.ReadLimit(f.Welcome.MaxFrame)
		r.SetMaxFrame(n)
		if l, ok := tr.(interface{ setMaxFrame(int) }); ok {
			l.setMaxFrame(n)
		}
	}
	return tr, r, f.Welcome, nil
}

// ConnectedURL returns the URL of the server the connection uses now, or ""
// while it is reconnecting or closed.
func (c *Conn) ConnectedURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateConnected || c.url == nil {
		return ""
	}
	return c.url.Redacted()
}

// ServerID returns the id of the broker the connection uses now.
func (c *Conn) ServerID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome.ServerID
}

// MaxPayload returns the largest payload the connected broker accepts.
func (c *Conn) MaxPayload() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.welcome.MaxPayload)
}

// IsClosed reports whether Close was called or reconnecting gave up.
func (c *Conn) IsClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateClosed
}

// LastError returns the error that made the connection give up, if any.
func (c *Conn) LastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// Stats returns the connection's counters.
func (c *Conn) Stats() Statistics {
	return Statistics{
		InMsgs: c.inMsgs.Load(), InBytes: c.inBytes.Load(),
		OutMsgs: c.outMsgs.Load(), OutBytes: c.outBytes.Load(),
		Reconnects: c.reconnects.Load(),
	}
}

func (c *Conn) signal() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// evItem is a user handler call or an acknowledgement callback with its
// result.
type evItem struct {
	fn  func()
	ack func(error)
	err error
}

// event queues a user handler call. Handlers and acknowledgement callbacks
// run in order on one goroutine, not the reader's, so that they may call
// any Conn method (Close included) and may wait (Publish waiting for queue
// space) without stopping the connection.
func (c *Conn) event(fn func()) { c.enqueue(evItem{fn: fn}) }

// answerAckLocked hands an acknowledgement its result: at once for
// PublishAck (a non-blocking send), queued for the handler goroutine
// otherwise. c.mu is held, so that Close cannot come between the answer
// and its queueing (the handler goroutine ends once the connection is
// done and its queue is empty).
func (c *Conn) answerAckLocked(p pendingAck, err error) {
	if p.direct {
		p.fn(err)
		return
	}
	c.enqueue(evItem{ack: p.fn, err: err})
}

func (c *Conn) enqueue(it evItem) {
	c.evMu.Lock()
	c.events = append(c.events, it)
	c.evMu.Unlock()
	select {
	case c.evWake <- struct{}{}:
	default:
	}
}

// runEvents runs handlers and acknowledgement callbacks until the
// connection is done (its reader and writer have ended, so nothing more
// is queued) and the queue is empty.
func (c *Conn) runEvents() {
	defer close(c.evDone)
	c.evGoID.Store(goid())
	for {
		c.evMu.Lock()
		batch := c.events
		if len(batch) > 0 {
			c.events, c.evSpare = c.evSpare[:0], nil
		}
		c.evMu.Unlock()
		for _, it := range batch {
			if it.ack != nil {
				it.ack(it.err)
			} else {
				it.fn()
			}
		}
		if len(batch) > 0 {
			clear(batch)
			if cap(batch) <= 1<<16 {
				c.evSpare = batch[:0]
			} else {
				c.evSpare = nil // let a burst's queue go
			}
			continue
		}
		select {
		case <-c.evWake:
		case <-c.done:
			c.evMu.Lock()
			left := len(c.events)
			c.evMu.Unlock()
			if left == 0 {
				return
			}
		}
	}
}

func (c *Conn) asyncError(s *Subscription, err error) {
	if h := c.opts.ErrorHandler; h != nil {
		c.event(func() { h(c, s, err) })
	}
}

// pongWaiter is what waits for one PONG: a Flush (ch), a FlushAsync
// callback (fn), or, with neither, the confirmation that a reconnect has
// restored the subscriptions.
type pongWaiter struct {
	ch chan error
	fn func(error)
	// afterAck is the last ack id handed out before this PING: failed
	// together, waiters keep the order in which they were made.
	afterAck uint64
}

// Flush waits until the broker has processed everything sent before it.
func (c *Conn) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	if err := c.ping(pongWaiter{ch: ch}); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// FlushAsync is Flush without waiting: done is called once the broker has
// processed everything sent before it, with Flush's error otherwise. Like
// PublishAckAsync's callbacks, done runs on the goroutine that runs the
// connection's handlers, in order with them: when it runs, the
// ErrorHandler has already been called for every refusal the broker sent
// before its answer (a refused plain Publish, say). An error return means
// done will not be called.
func (c *Conn) FlushAsync(done func(error)) error {
	if done == nil {
		return errNilDone
	}
	return c.ping(pongWaiter{fn: done})
}

func (c *Conn) ping(w pongWaiter) error {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return ErrClosed
	}
	w.afterAck = c.nextAck
	c.pongs = append(c.pongs, w)
	c.wbuf = wire.AppendPing(c.wbuf)
	c.mu.Unlock()
	c.signal()
	return nil
}

// answerPongLocked gives w the result of its PING; c.mu is held. It
// reports whether w was a reconnect's confirmation.
func (c *Conn) answerPongLocked(w pongWaiter, err error) (restored bool) {
	switch {
	case w.ch != nil:
		w.ch <- err
	case w.fn != nil:
		c.enqueue(evItem{ack: w.fn, err: err})
	default:
		return true
	}
	return false
}

// Close closes the connection after writing what is buffered, and returns
// once the acknowledgement callbacks and handlers queued by then have run
// (those waiting for an answer get ErrClosed). It is safe to call more
// than once, and from callbacks and handlers; from a handler or an
// acknowledgement callback it does not wait for the handler queue (it runs
// on it). Messages still queued for subscription callbacks are dropped
// (Drain hands them over).
func (c *Conn) Close() error { return c.close(true) }

// close closes the connection, with the goodbye that discards the will
// when bye (Close) or without it (Abort), and waits for what Close waits
// for.
func (c *Conn) close(bye bool) error {
	c.mu.Lock()
	if bye && c.state == stateConnected {
		// A clean goodbye: the broker discards the will.
		c.wbuf = wire.AppendBye(c.wbuf)
	}
	if c.state != stateClosed {
		c.closeLocked(nil, false)
	}
	c.mu.Unlock()
	c.signal()
	<-c.done
	if goid() != c.evGoID.Load() {
		<-c.evDone
	}
	return nil
}

// goid returns the calling goroutine's id, read from the header of its
// stack trace ("goroutine 42 [running]:"). Go gives goroutines no identity
// on purpose; Close needs one fact, whether it runs on the handler
// goroutine (where waiting for that goroutine would never end), and asks
// it once per call, never on a hot path.
func goid() uint64 {
	var buf [64]byte
	s := buf[:runtime.Stack(buf[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	if i := bytes.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, _ := strconv.ParseUint(string(s), 10, 64)
	return id
}

// hasSpace reports whether t holds a space, tab, CR or LF (a loop: this is
// on every publish, and strings.ContainsAny builds its set on each call).
func hasSpace(t string) bool {
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case ' ', '\t', '\r', '\n':
			return true
		}
	}
	return false
}

// closeLocked moves to the closed state; c.mu is held. With drainSubs,
// messages already received are still handed to their callbacks, and
// acknowledgement callbacks still waiting get ErrClosed.
func (c *Conn) closeLocked(reason error, drainSubs bool) {
	c.state = stateClosed
	c.room.Broadcast()
	c.lastErr = reason
	c.failWaitersLocked(ErrClosed)
	close(c.closedCh)
	c.subsMu.Lock()
	for sid, s := range c.subs {
		s.close(ErrClosed, drainSubs)
		delete(c.subs, sid)
	}
	c.subsMu.Unlock()
}

// failWaitersLocked fails every pending flush and acknowledgement with err
// (the callbacks are queued for the handler goroutine); c.mu is held.
func (c *Conn) failWaitersLocked(err error) {
	acks := c.acks.takeAll()
	for _, w := range c.pongs {
		for len(acks) > 0 && acks[0].id <= w.afterAck {
			c.answerAckLocked(acks[0], err)
			acks = acks[1:]
		}
		c.answerPongLocked(w, err)
	}
	for _, p := range acks {
		c.answerAckLocked(p, err)
	}
	c.pongs = nil
}

// Drain unsubscribes everything, lets the messages already on their way be
// handled by their callbacks, flushes what was published, and closes.
func (c *Conn) Drain(ctx context.Context) error {
	c.subsMu.RLock()
	subs := make([]*Subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	c.subsMu.RUnlock()
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return ErrClosed
	}
	for _, s := range subs {
		c.wbuf = wire.AppendUnsub(c.wbuf, s.sid, 0)
	}
	c.mu.Unlock()
	err := c.Flush(ctx)
	c.subsMu.Lock()
	for _, s := range subs {
		delete(c.subs, s.sid)
		s.close(nil, true)
	}
	c.subsMu.Unlock()
	for _, s := range subs {
		if err != nil {
			break
		}
		select {
		case <-s.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	c.Close()
	return err
}

// newInbox returns a random inbox prefix.
func newInbox() string {
	var b [12]byte
	rand.Read(b[:])
	return "_INBOX." + hex.EncodeToString(b[:]) + "."
}

// sortedSubs returns the subscriptions in sid order.
func (c *Conn) sortedSubs() []*Subscription {
	c.subsMu.RLock()
	subs := make([]*Subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	c.subsMu.RUnlock()
	sort.Slice(subs, func(i, j int) bool { return subs[i].sid < subs[j].sid })
	return subs
}

// badTopic turns the verdict of topics.ValidatePublish or ValidateFilter
// into the SDK's error. The rules are the broker's own (package topics, a
// leaf with no server logic), so a bad topic fails the call that names it,
// with the reason, instead of coming back from the broker later.
func badTopic(err error) error {
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadTopic, err)
	}
	return nil
}

// checkQueue refuses a queue group name that cannot be sent: empty, with
// white space, or too long to encode. The broker has no other rule for it.
func checkQueue(q string) error {
	if q == "" || len(q) > wire.MaxString || hasSpace(q) {
		if len(q) > 64 {
			q = q[:64] + "..."
		}
		return fmt.Errorf("%w: queue group %q", ErrBadTopic, q)
	}
	return nil
}
