package text

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/internal/batchq"
)

// Bounds of a client's output buffer: writers wait while it holds more
// than outMax bytes (the wait reaches the broker as a slow subscription),
// and a client that takes nothing for writeTimeout is disconnected.
const (
	outMax       = 1 << 20
	writeTimeout = 10 * time.Second
)

// output is a client connection's outgoing side. Lines are appended to a
// queue; a writer goroutine, running while there is something to write,
// writes it out, so that many lines (a burst of messages, a run of +OK
// answers) share one write call.
type output struct {
	c net.Conn
	q batchq.Queue[byte]
	// size is the queue's length at the last append, at least what is
	// queued now: waitRoom's check without the lock.
	size atomic.Int64
}

func newOutput(c net.Conn) *output {
	o := &output{c: c}
	o.q.Init(batchq.Config[byte]{
		Write: func(b []byte) (int, error) {
			c.SetWriteDeadline(time.Now().Add(writeTimeout))
			return c.Write(b)
		},
		// After the last line, or a failed write: nothing more goes out.
		End:     func(error, []byte) { c.Close() },
		KeepCap: outMax,
	})
	return o
}

// add queues what fn appends, and reports false if the connection is
// gone. With wait, it first waits for room in the buffer; answers do not:
// they are written from the SDK's handler goroutine, which must not wait
// on a client; the command reader waits for room instead (waitRoom),
// which bounds them.
func (o *output) add(wait bool, fn func([]byte) []byte) bool {
	f := func(b []byte) []byte {
		b = fn(b)
		o.size.Store(int64(len(b)))
		return b
	}
	if wait {
		_, ok := o.q.AppendWait(outMax, f)
		return ok
	}
	_, ok := o.q.Append(f)
	return ok
}

// waitRoom waits until the buffer is within its bound (or the connection
// is gone).
func (o *output) waitRoom() {
	if o.size.Load() <= outMax {
		return // the common case, without the lock
	}
	o.add(true, func(b []byte) []byte { return b })
}

// close is hangUp, and returns once the writer has finished.
func (o *output) close(last string) {
	o.hangUp(last)
	o.q.Wait()
}

// hangUp has the writer write what is queued and a last line (if not
// empty), then close the connection.
func (o *output) hangUp(last string) {
	o.q.Close(func(b []byte) []byte {
		if last != "" {
			b = append(b, last...)
			b = append(b, "\r\n"...)
		}
		return b
	})
}
