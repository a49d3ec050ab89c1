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
	var err error
	cerr := raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{
			Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
			Fd:     int32(uint32(id)), Pad: int32(uint32(id >> 32)),
		}
		// A socket parked before is still in the set, disabled.
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
		if errors.Is(err, unix.ENOENT) {
			err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	return errors.Join(cerr, err)
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
