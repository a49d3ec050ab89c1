package text

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of a client's output buffer: writers wait while it holds more
// than outMax bytes (the wait reaches the broker as a slow subscription),
// and a client that takes nothing for writeTimeout is disconnected.
const (
	outMax       = 1 << 20
	writeTimeout = 10 * time.Second
)

// output is a client connection's outgoing side. Lines are appended to a
// buffer under a lock; one goroutine writes the buffer out, so that many
// lines (a burst of messages, a run of +OK answers) share one write call.
type output struct {
	c net.Conn

	mu     sync.Mutex
	space  sync.Cond // signalled when the writer takes the buffer
	buf    []byte
	size   atomic.Int64 // len(buf), for waitRoom's check without the lock
	hangup bool         // close the connection once buf is written
	dead   bool         // the connection failed or was closed; drop output

	kick chan struct{}
	done chan struct{}
}

func newOutput(c net.Conn) *output {
	o := &output{c: c, kick: make(chan struct{}, 1), done: make(chan struct{})}
	o.space.L = &o.mu
	go o.writeLoop()
	return o
}

// lock waits for room in the buffer and returns it locked, or returns
// false (unlocked) if the connection is gone.
func (o *output) lock() bool {
	o.mu.Lock()
	for len(o.buf) > outMax && !o.dead {
		o.space.Wait()
	}
	return o.usableLocked()
}

// lockNow returns the buffer locked without waiting for room, or false
// (unlocked) if the connection is gone. Answers use it: they are written
// from the SDK's handler goroutine, which must not wait on a client; the
// command reader waits for room instead (waitRoom), which bounds them.
func (o *output) lockNow() bool {
	o.mu.Lock()
	return o.usableLocked()
}

// usableLocked reports whether lines may still be queued, and unlocks if
// not.
func (o *output) usableLocked() bool {
	if o.dead || o.hangup {
		o.mu.Unlock()
		return false
	}
	return true
}

// waitRoom waits until the buffer is within its bound (or the connection
// is gone).
func (o *output) waitRoom() {
	if o.size.Load() <= outMax {
		return // the common case, without the lock
	}
	if o.lock() {
		o.mu.Unlock()
	}
}

// unlock releases the buffer and wakes the writer.
func (o *output) unlock() {
	o.size.Store(int64(len(o.buf)))
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// close is hangUp, and returns once the writer has finished.
func (o *output) close(last string) {
	o.hangUp(last)
	<-o.done
}

// hangUp has the writer write what is queued and a last line (if not
// empty), then close the connection.
func (o *output) hangUp(last string) {
	o.mu.Lock()
	if !o.dead && !o.hangup && last != "" {
		o.buf = append(o.buf, last...)
		o.buf = append(o.buf, "\r\n"...)
	}
	o.hangup = true
	o.unlock()
}

func (o *output) writeLoop() {
	defer close(o.done)
	var spare []byte
	for range o.kick {
		o.mu.Lock()
		batch, hangup := o.buf, o.hangup
		o.buf = spare[:0]
		o.size.Store(0)
		o.space.Broadcast()
		o.mu.Unlock()
		var err error
		if len(batch) > 0 {
			o.c.SetWriteDeadline(time.Now().Add(writeTimeout))
			_, err = o.c.Write(batch)
		}
		if err != nil || hangup {
			o.c.Close()
			o.mu.Lock()
			o.dead = true
			o.buf = nil
			o.space.Broadcast()
			o.mu.Unlock()
			return
		}
		if cap(batch) <= outMax {
			spare = batch[:0]
		} else {
			spare = nil
		}
	}
}
