//go:build !linux

package adapters

// ReadWaiter waits for a socket to become readable without reading; on
// this system there is none, and idle connections wait in their blocking
// read, holding their read buffer.
type ReadWaiter struct{}

// NewReadWaiter returns nil: see the Linux version.
func NewReadWaiter(c any) *ReadWaiter { return nil }

// Wait is never called on a nil waiter.
func (w *ReadWaiter) Wait() error { return nil }
