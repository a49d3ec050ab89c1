package adapters

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ReadWaiter waits until a socket has bytes to read (or an error or end of
// stream to report) without reading them, so that a connection whose peer
// is quiet waits holding no read buffer and on a shallow stack (see
// session.readLoop). It parks on Go's own poller; a peek of one byte, with
// MSG_PEEK, tells a real wake from a stale readiness.
type ReadWaiter struct {
	raw   syscall.RawConn
	ready func(fd uintptr) bool // made once: a closure per wait would allocate
	peek  [1]byte
}

// NewReadWaiter returns a waiter for c, or nil if c is not a socket the
// waiter can peek at (a TLS connection buffers decrypted bytes of its own,
// a QUIC stream has no socket of its own): such connections wait in their
// blocking read, holding their buffer, as on other systems.
func NewReadWaiter(c any) *ReadWaiter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &ReadWaiter{raw: raw}
	w.ready = w.readable
	return w
}

// Wait returns when the socket is readable, or with the error that ended
// the wait (the connection was closed, a read deadline passed).
func (w *ReadWaiter) Wait() error { return w.raw.Read(w.ready) }

func (w *ReadWaiter) readable(fd uintptr) bool {
	for {
		// recvfrom without an address: unix.Recvfrom would decode one,
		// and this runs at every wait of every connection.
		_, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&w.peek[0])), 1,
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		// Bytes, the end of the stream (0, nil) and an error are all
		// for the reader to see; only "nothing yet" waits.
		return errno != unix.EAGAIN
	}
}
