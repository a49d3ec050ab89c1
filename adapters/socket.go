package adapters

import "sync/atomic"

// IdleSocket is what lets a FrameConn over a plain socket wait for its
// peer holding no read buffer (WaitIdle) and, with a Poller, park when its
// session is quiet (Park). A FrameConn embeds it, calls Init with the
// buffer it reads through, and calls Closing at the start of its Close and
// Done at the end of its Release.
type IdleSocket struct {
	w *ReadWaiter // nil if the connection is not a plain socket
	p *Poller     // nil: no parking

	// The id of the latest parking (for Closing to take it back), whether
	// Closing has begun, and whether the connection counts in the
	// poller's held sessions.
	parkID atomic.Uint64
	closed atomic.Bool
	held   bool
}

// Init prepares the idle wait for c, whose bytes are read into into (a
// *wire.Buffer or *wire.Reader). It does nothing if c is not a socket
// the wait can read directly (a TLS connection, a QUIC stream, a pipe).
func (s *IdleSocket) Init(c any, into filler) { s.w = NewReadWaiter(c, into) }

// SetPoller lets the connection park on p when its session is quiet (Linux,
// a plain socket; otherwise it does nothing).
func (s *IdleSocket) SetPoller(p *Poller) {
	if s.w != nil {
		s.p = p
	}
}

// CanWaitIdle implements idleReader: a plain socket can (on Linux).
func (s *IdleSocket) CanWaitIdle() bool { return s.w != nil }

// WaitIdle implements idleReader: it waits until the peer sends something
// and reads it, giving the read buffer back (to its pool) for as long as
// it has to wait.
func (s *IdleSocket) WaitIdle() error { return s.w.Wait() }

// CanTryWrite reports whether TryWrite works on this connection: a plain
// socket with a Poller can (on Linux).
func (s *IdleSocket) CanTryWrite() bool { return s.p != nil }

// TryWrite writes p if the socket takes it without waiting, and returns how
// much it took: 0 if it would block or failed, possibly less than len(p)
// (the caller writes the rest next). CanTryWrite must be true.
func (s *IdleSocket) TryWrite(p []byte) (int, error) { return s.p.tryWrite(s.w.raw, p) }

// CanPark implements parker.
func (s *IdleSocket) CanPark() bool { return s.p != nil }

// Park implements parker: with nothing buffered, it gives the read buffer
// back and hands the wait for the peer to the poller, which runs resume on
// a new goroutine when the peer sends something or the connection is
// closed. It returns false if the connection is closing: the caller goes
// on reading (and finds it closed).
func (s *IdleSocket) Park(resume func()) bool {
	s.w.into.Idle()
	if !s.held {
		// Before the parking can be resumed and the session end.
		s.held = true
		s.p.held.Add(1)
	}
	id := s.p.reserve(resume)
	s.parkID.Store(id)
	// Closing sets closed, then takes parkID; this stores parkID, then
	// reads closed: one of the two sees the other.
	if s.closed.Load() || s.p.arm(s.w.raw, id) != nil {
		// Unless Closing took the parking (then its resume runs), the
		// session goes on on this goroutine.
		return s.p.take(id) == nil
	}
	return true
}

// Closing takes a parked connection back from the poller (a closed socket
// leaves the epoll set without an event), so that its session goes on,
// finds the connection closed, and ends. Call it before closing.
func (s *IdleSocket) Closing() {
	if s.p != nil {
		s.closed.Store(true)
		if resume := s.p.take(s.parkID.Load()); resume != nil {
			go resume()
		}
	}
}

// Done gives back the connection's place among the poller's held sessions;
// call it once the session is over (Release).
func (s *IdleSocket) Done() {
	if s.held {
		s.held = false
		s.p.held.Done()
	}
}
