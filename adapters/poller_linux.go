package adapters

import (
	"errors"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// A Poller holds parked connections: TCP sessions that have been quiet for
// a whole ping interval give up their reader goroutine (and with it its
// stack, the largest part of what an idle connection costs) and wait in
// one epoll set instead; when one becomes readable, or is closed, a new
// goroutine takes its session up where it stopped. One goroutine waits on
// the epoll set for all of them.
//
// Whoever takes a parked connection's entry out of the map owns its
// continuation: the epoll loop when bytes arrive, Unpark when the
// connection is being closed (a closed socket leaves the epoll set without
// an event), Close at shutdown. So each parking is resumed exactly once.
type Poller struct {
	epfd, evfd int
	mu         sync.Mutex
	parked     map[uint64]func() // by park id: the continuation
	next       uint64
	loop       sync.WaitGroup
	// held counts the sessions that have parked at least once and not yet
	// ended: their adapter waits for them on shutdown, as it waits for
	// the goroutines of sessions that never parked.
	held sync.WaitGroup
	// ops holds *sockOp, lent for one system call on a parked or idle
	// connection's socket.
	ops sync.Pool
}

// sockOp is one system call on a socket through its syscall.RawConn, with
// its arguments and results. A RawConn takes a function; one made per call
// (capturing the arguments) would be garbage at every park and every PING
// of every idle connection, so the poller lends these, whose functions
// are made once.
type sockOp struct {
	p   *Poller
	buf []byte // write: what to write
	id  uint64 // arm: the parking's id
	n   int    // write: how much the socket took
	err error
	// The functions for RawConn: op.write and op.arm.
	writeFn func(fd uintptr) bool
	armFn   func(fd uintptr)
}

func (p *Poller) getOp() *sockOp {
	if op, ok := p.ops.Get().(*sockOp); ok {
		return op
	}
	op := &sockOp{p: p}
	op.writeFn, op.armFn = op.write, op.arm
	return op
}

func (p *Poller) putOp(op *sockOp) {
	op.buf, op.err, op.n, op.id = nil, nil, 0, 0
	p.ops.Put(op)
}

// tryWrite writes b to the socket if it takes it without waiting, and
// returns how much it took (0 if the write would block or failed). It
// never waits for the socket: the caller writes what is left later, with a
// blocking write.
func (p *Poller) tryWrite(raw syscall.RawConn, b []byte) (int, error) {
	op := p.getOp()
	op.buf = b
	cerr := raw.Write(op.writeFn)
	n, err := op.n, op.err
	p.putOp(op)
	if cerr != nil || err != nil {
		return 0, errors.Join(cerr, err)
	}
	return n, nil
}

func (op *sockOp) write(fd uintptr) bool {
	for {
		n, err := unix.Write(int(fd), op.buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			op.n, op.err = 0, nil
		case err != nil:
			op.n, op.err = 0, err
		default:
			op.n = n
		}
		return true // done, whatever happened: never wait
	}
}

// arm adds the socket to the epoll set for one readiness event (see
// Poller.arm); op.id is the parking's.
func (op *sockOp) arm(fd uintptr) {
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
		Fd:     int32(uint32(op.id)), Pad: int32(uint32(op.id >> 32)),
	}
	// A socket parked before is still in the set, disabled.
	err := unix.EpollCtl(op.p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
	if errors.Is(err, unix.ENOENT) {
		err = unix.EpollCtl(op.p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}
	op.err = err
}

// stopID is the epoll data of the eventfd that stops the loop.
const stopID = 0

// NewPoller starts a poller and its goroutine; Close stops them.
func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	p := &Poller{epfd: epfd, evfd: evfd, parked: make(map[uint64]func()), next: stopID + 1}
	p.loop.Add(1)
	go p.run()
	return p, nil
}

// reserve records resume as the continuation of a parking about to be
// armed, and returns the parking's id.
func (p *Poller) reserve(resume func()) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.next
	p.next++
	p.parked[id] = resume
	return id
}

// arm adds the socket to the epoll set, for one readiness event (or the
// peer's end of stream) carrying id. It fails if the connection is closed:
// Control holds the socket open while it runs, so a socket number reused
// by another connection is never touched.
func (p *Poller) arm(raw syscall.RawConn, id uint64) error {
	op := p.getOp()
	op.id = id
	cerr := raw.Control(op.armFn)
	err := op.err
	p.putOp(op)
	if cerr != nil || err != nil {
		return errors.Join(cerr, err)
	}
	return nil
}

// take removes the parking id and returns its continuation, or nil if
// another party took it first.
func (p *Poller) take(id uint64) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	resume := p.parked[id]
	delete(p.parked, id)
	return resume
}

func (p *Poller) run() {
	defer p.loop.Done()
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return // the epoll set is broken: nothing more will wake
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == stopID {
				return
			}
			if resume := p.take(id); resume != nil {
				go resume()
			}
		}
	}
}

// Close stops the poller's goroutine once every session that parked has
// ended (their connections are closed by their contexts: see
// StreamConn.Close), and frees the epoll set.
func (p *Poller) Close() {
	p.held.Wait()
	var one [8]byte
	one[0] = 1 // eventfd counts in native byte order; any non-zero value wakes
	unix.Write(p.evfd, one[:])
	p.loop.Wait()
	unix.Close(p.epfd)
	unix.Close(p.evfd)
}
