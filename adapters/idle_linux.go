package adapters

import (
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/msgtrans/msgtrans/wire"
)

// filler is the read side of a connection that a ReadWaiter fills: a
// wire.Reader or wire.Buffer.
type filler interface {
	// FillFrom reads once with read into the buffer (taking one if Idle
	// gave it back).
	FillFrom(read func(p []byte) (int, error)) (int, error)
	// Idle gives the buffers back while nothing is buffered.
	Idle()
}

// ReadWaiter waits until a socket has bytes to read, reading them into
// the connection's buffer, and gives that buffer back for as long as it
// has to wait: a connection whose peer is quiet waits holding no read
// buffer and, since the wait is at the top of the session's reader (see
// session.readLoop), on a shallow stack. It parks on Go's own poller, and
// costs no more system calls than a blocking read: one read that finds
// nothing, one that finds the bytes.
type ReadWaiter struct {
	raw   syscall.RawConn
	into  filler
	ready func(fd uintptr) bool       // w.readable, made once
	read  func(p []byte) (int, error) // w.readFD, made once
	fd    uintptr
	idled bool
}

// NewReadWaiter returns a waiter that fills into from c, or nil if c is
// not a socket it can read directly (a TLS connection decrypts what it
// reads, a QUIC stream has no socket of its own): such connections wait
// in their blocking read, holding their buffer, as on other systems.
func NewReadWaiter(c any, into filler) *ReadWaiter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &ReadWaiter{raw: raw, into: into}
	w.ready, w.read = w.readable, w.readFD
	return w
}

// Wait returns once it has read something into the buffer (or the read
// found the end of the stream or an error, which the buffer then holds),
// or with the error that ended the wait (the connection was closed, a
// read deadline passed).
func (w *ReadWaiter) Wait() error {
	w.idled = false
	return w.raw.Read(w.ready)
}

// readable is called by the poller with the socket: it reads into the
// buffer, and if there was nothing yet, gives the buffer back (once) and
// asks to wait.
func (w *ReadWaiter) readable(fd uintptr) bool {
	w.fd = fd
	if _, err := w.into.FillFrom(w.read); err != wire.ErrWouldBlock {
		return true
	}
	if !w.idled {
		w.idled = true
		w.into.Idle()
	}
	return false
}

func (w *ReadWaiter) readFD(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(w.fd), p)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, wire.ErrWouldBlock
		case err != nil:
			return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", err)}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
