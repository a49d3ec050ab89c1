package inproc

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Pipe returns the two ends of an in-memory full-duplex byte stream: what
// one end writes, the other reads. It carries a session between a client in
// the broker's process (a protocol linked in, a program that embeds the
// broker) and the session engine.
//
// Like net.Pipe it has no buffer of its own: a Write waits until readers
// have taken all of its bytes, which are copied once, from the writer's
// slice straight into the reader's. Unlike net.Pipe, a Write wakes its
// reader once and is woken once, when everything is taken, however many
// Reads that takes; net.Pipe hands each Read's share over two channels.
// (Measured in BenchmarkPipe.) Deadlines and Close behave as on a socket.
func Pipe() (net.Conn, net.Conn) {
	ab, ba := newStream(), newStream()
	return &pipeEnd{in: ba, out: ab}, &pipeEnd{in: ab, out: ba}
}

// pipeEnd is one end of a pipe: a net.Conn.
type pipeEnd struct {
	in  *stream // what the other end writes
	out *stream // what this end writes
}

// stream is one direction of a pipe.
type stream struct {
	mu       sync.Mutex
	readable sync.Cond // data offered, the writer closed, a read deadline moved or passed
	writable sync.Cond // data taken, the reader closed, a write deadline moved or passed
	data     []byte    // the part of the current Write not taken yet
	writing  bool      // a Write is under way; others wait their turn
	rclosed  bool      // the reading end is closed
	wclosed  bool      // the writing end is closed
	rdl, wdl deadline
}

// deadline is one side's deadline and the timer that wakes its waiters
// when it passes. The timer is made once and reset on each change: the
// engine sets a write deadline before every write.
type deadline struct {
	t     time.Time
	timer *time.Timer
}

func newStream() *stream {
	s := &stream{}
	s.readable.L = &s.mu
	s.writable.L = &s.mu
	return s
}

// set changes the deadline and wakes the waiters, who check it again.
// The caller holds the stream's lock.
func (d *deadline) set(t time.Time, waiters *sync.Cond) {
	d.t = t
	if d.timer != nil {
		d.timer.Stop()
	}
	if !t.IsZero() {
		wait := time.Until(t)
		if d.timer == nil {
			d.timer = time.AfterFunc(wait, func() {
				waiters.L.Lock()
				waiters.Broadcast()
				waiters.L.Unlock()
			})
		} else {
			d.timer.Reset(wait)
		}
	}
	waiters.Broadcast()
}

func (d *deadline) passed() bool {
	return !d.t.IsZero() && !time.Now().Before(d.t)
}

func (s *stream) read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.rclosed:
			return 0, net.ErrClosed
		case s.rdl.passed():
			return 0, os.ErrDeadlineExceeded
		case len(p) == 0:
			return 0, nil
		case len(s.data) > 0:
			n := copy(p, s.data)
			s.data = s.data[n:]
			if len(s.data) == 0 {
				s.writable.Broadcast()
			}
			return n, nil
		case s.wclosed:
			return 0, io.EOF
		}
		s.readable.Wait()
	}
}

func (s *stream) write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.writing && s.writeErr() == nil {
		s.writable.Wait()
	}
	if err := s.writeErr(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	s.writing, s.data = true, p
	s.readable.Broadcast()
	for len(s.data) > 0 && s.writeErr() == nil {
		s.writable.Wait()
	}
	n := len(p) - len(s.data)
	// Nothing may refer to p once Write returns.
	s.writing, s.data = false, nil
	s.writable.Broadcast() // the next writer's turn
	if n < len(p) {
		return n, s.writeErr()
	}
	return n, nil
}

// writeErr says why a write cannot go on, or nil.
func (s *stream) writeErr() error {
	switch {
	case s.wclosed:
		return net.ErrClosed
	case s.rclosed:
		return io.ErrClosedPipe
	case s.wdl.passed():
		return os.ErrDeadlineExceeded
	}
	return nil
}

// Read implements net.Conn.
func (e *pipeEnd) Read(p []byte) (int, error) { return e.in.read(p) }

// Write implements net.Conn. It returns once the other end has read all
// of p, or with an error and the count of bytes it read.
func (e *pipeEnd) Write(p []byte) (int, error) { return e.out.write(p) }

// Close implements net.Conn: the other end reads io.EOF and its writes
// fail; waiting calls on this end return net.ErrClosed.
func (e *pipeEnd) Close() error {
	e.in.mu.Lock()
	e.in.rclosed = true
	stopTimers(e.in)
	e.in.readable.Broadcast()
	e.in.writable.Broadcast()
	e.in.mu.Unlock()

	e.out.mu.Lock()
	e.out.wclosed = true
	stopTimers(e.out)
	e.out.readable.Broadcast()
	e.out.writable.Broadcast()
	e.out.mu.Unlock()
	return nil
}

// stopTimers stops the deadline timers of a stream one of whose ends
// closed: none of its waits will need them.
func stopTimers(s *stream) {
	for _, d := range []*deadline{&s.rdl, &s.wdl} {
		if d.timer != nil {
			d.timer.Stop()
		}
	}
}

// SetReadDeadline implements net.Conn.
func (e *pipeEnd) SetReadDeadline(t time.Time) error {
	s := e.in
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rclosed {
		return net.ErrClosed
	}
	s.rdl.set(t, &s.readable)
	return nil
}

// SetWriteDeadline implements net.Conn.
func (e *pipeEnd) SetWriteDeadline(t time.Time) error {
	s := e.out
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wclosed {
		return net.ErrClosed
	}
	s.wdl.set(t, &s.writable)
	return nil
}

// SetDeadline implements net.Conn.
func (e *pipeEnd) SetDeadline(t time.Time) error {
	if err := e.SetReadDeadline(t); err != nil {
		return err
	}
	return e.SetWriteDeadline(t)
}

// LocalAddr implements net.Conn.
func (e *pipeEnd) LocalAddr() net.Addr { return pipeAddr{} }

// RemoteAddr implements net.Conn.
func (e *pipeEnd) RemoteAddr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
