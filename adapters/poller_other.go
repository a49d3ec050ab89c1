//go:build !linux

package adapters

import (
	"errors"
	"sync"
	"syscall"
)

// Poller holds parked connections on Linux (see poller_linux.go). On
// other systems there is none: every session keeps its reader goroutine.
type Poller struct {
	held sync.WaitGroup
}

// NewPoller fails on this system.
func NewPoller() (*Poller, error) { return nil, errors.New("adapters: no poller on this system") }

// Close does nothing: no poller is ever made here.
func (p *Poller) Close() {}

func (p *Poller) reserve(func()) uint64                   { return 0 }
func (p *Poller) arm(raw syscall.RawConn, _ uint64) error { return errors.ErrUnsupported }
func (p *Poller) take(uint64) func()                      { return nil }
func (p *Poller) tryWrite(syscall.RawConn, []byte) (int, error) {
	return 0, errors.ErrUnsupported
}
