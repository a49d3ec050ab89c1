package plugin

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

var errDeadline = os.ErrDeadlineExceeded

// maxIn bounds what the broker sent for one session and its client code
// has not read yet; beyond it the session is ended rather than let one
// stuck client grow the plugin's memory without bound.
const maxIn = 64 << 20

// maxKeep is the largest receive buffer a drained tunnel keeps for the
// next data.
const maxKeep = 1 << 20

// tunnel is one session's byte stream to the broker, the sdk.Transport of
// the session's *sdk.Conn.
type tunnel struct {
	r  *remote
	id uint64

	mu       sync.Mutex
	in       []byte // in[off:] is what the broker sent and Read has not taken
	off      int
	eof      bool
	closed   bool
	rdl, wdl time.Time
	readable chan struct{}
}

func newTunnel(r *remote, id uint64) *tunnel {
	return &tunnel{r: r, id: id, readable: make(chan struct{}, 1)}
}

// deliver appends what the broker sent; end means the broker ended the
// session.
func (t *tunnel) deliver(data []byte, end bool) {
	t.mu.Lock()
	overflow := !t.eof && len(t.in)-t.off+len(data) > maxIn
	if overflow {
		end, data = true, nil
	}
	if t.off > 0 && len(t.in)+len(data) > cap(t.in) {
		// Move what is left to the front rather than grow: the buffer
		// is reused while a busy session's reader keeps up.
		t.in = t.in[:copy(t.in, t.in[t.off:])]
		t.off = 0
	}
	t.in = append(t.in, data...)
	if end {
		t.eof = true
	}
	t.mu.Unlock()
	if overflow {
		t.r.log.Warn("session's client does not keep up; ending the session", "session", t.id)
		t.r.send(t.id, nil, true, nil) // an end is queued without waiting
	}
	select {
	case t.readable <- struct{}{}:
	default:
	}
}

func (t *tunnel) Read(p []byte) (int, error) {
	for {
		t.mu.Lock()
		if t.off < len(t.in) {
			n := copy(p, t.in[t.off:])
			t.off += n
			if t.off == len(t.in) {
				t.in, t.off = t.in[:0], 0
				if cap(t.in) > maxKeep {
					t.in = nil // let a burst's buffer go
				}
			}
			t.mu.Unlock()
			return n, nil
		}
		switch {
		case t.closed:
			t.mu.Unlock()
			return 0, net.ErrClosed
		case t.eof:
			t.mu.Unlock()
			return 0, io.EOF
		}
		dl := t.rdl
		t.mu.Unlock()
		if dl.IsZero() {
			<-t.readable
			continue
		}
		d := time.Until(dl)
		if d <= 0 {
			return 0, errDeadline
		}
		// One timer per wait, stopped when the wait ends: a Read that
		// wakes many times before data comes must not leave a timer
		// running for each wake until the function returns.
		timer := time.NewTimer(d)
		select {
		case <-t.readable:
			timer.Stop()
		case <-timer.C:
			return 0, errDeadline
		}
	}
}

func (t *tunnel) Write(p []byte) (int, error) {
	t.mu.Lock()
	closed, eof, dl := t.closed, t.eof, t.wdl
	t.mu.Unlock()
	if closed || eof {
		return 0, net.ErrClosed
	}
	var deadline <-chan struct{}
	if !dl.IsZero() {
		ch := make(chan struct{})
		timer := time.AfterFunc(time.Until(dl), func() { close(ch) })
		defer timer.Stop()
		deadline = ch
	}
	if err := t.r.send(t.id, p, false, deadline); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close ends the session: what was written before goes first.
func (t *tunnel) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	eof := t.eof
	t.mu.Unlock()
	select {
	case t.readable <- struct{}{}:
	default:
	}
	t.r.forget(t.id)
	if eof {
		return nil // the broker already ended it
	}
	err := t.r.send(t.id, nil, true, nil)
	if errors.Is(err, ErrStopped) {
		return nil
	}
	return err
}

func (t *tunnel) SetDeadline(d time.Time) error {
	t.SetReadDeadline(d)
	return t.SetWriteDeadline(d)
}

func (t *tunnel) SetReadDeadline(d time.Time) error {
	t.mu.Lock()
	t.rdl = d
	t.mu.Unlock()
	select {
	case t.readable <- struct{}{}: // re-evaluate a waiting Read
	default:
	}
	return nil
}

func (t *tunnel) SetWriteDeadline(d time.Time) error {
	t.mu.Lock()
	t.wdl = d
	t.mu.Unlock()
	return nil
}
