//go:build !linux

package adapters

import "syscall"

// filler is the read side of a connection that a ReadWaiter fills.
type filler interface {
	FillFrom(read func(p []byte) (int, error)) (int, error)
	Idle()
}

// ReadWaiter waits for a socket to become readable without a read buffer;
// on this system there is none, and idle connections wait in their
// blocking read, holding their read buffer.
type ReadWaiter struct {
	raw  syscall.RawConn
	into filler
}

// NewReadWaiter returns nil: see the Linux version.
func NewReadWaiter(c any, into filler) *ReadWaiter { return nil }

// Wait is never called on a nil waiter.
func (w *ReadWaiter) Wait() error { return nil }
