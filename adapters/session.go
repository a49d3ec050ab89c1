package adapters

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/internal/batchq"
	"github.com/msgtrans/msgtrans/wire"
)

// slowGrace bounds how long the final error frame to a slow consumer may
// take: its buffer is dropped, and it is probably not reading anyway.
const slowGrace = 100 * time.Millisecond

// session is one native-protocol connection: its outbound queue (the
// broker.Conn the broker delivers into), its reader loop, and a writer
// goroutine that runs only while there is something to write, so that an
// idle connection costs one goroutine, not two.
type session struct {
	e  *Engine
	fc FrameConn
	s  atomic.Pointer[broker.Session] // set once Connect returned

	frames atomic.Uint64 // frames read, for the dead-peer check
	// slow: stopped as a slow consumer. Its queue is dropped, and so is
	// the rest of the batch being written; only the ERR frame that says
	// why still goes out, within slowGrace.
	slow atomic.Bool
	gidx int32 // the session's index in its watch (see watch, below)

	// out holds encoded frames for the writer, in chunks of up to about
	// writeChunk bytes: a backlog grows by adding chunks, never by copying
	// what is queued (one contiguous buffer doubled, and copied, all the
	// way to max_pending for a client that does not read). It is held until
	// the WELCOME is queued; its End writes last (set by stop with the
	// queue's lock held: the fatal ERR frame, if any) and closes the
	// connection. Under the queue's lock: queued, the bytes in out (queued
	// or being written), and free, written chunks kept for the next.
	out    batchq.Queue[[]byte]
	queued int
	free   [2][]byte // written chunks kept for the next ones: one is being
	// filled while another is written, so two suffice; nfree (below) of
	// them are kept.
	last []byte

	mu      sync.Mutex
	closing bool
	nfree   uint8 // of free (under the queue's lock, not mu)
	reason  error

	// The ping work (see ping), done by the engine's wheel once per
	// PingInterval: the slot and index of the session on the wheel (only
	// the wheel touches them), and what the last visit saw.
	wslot, widx int32
	lastFrames  uint64
	lastSeen    time.Duration // since the engine's epoch, when frames last changed

	// Parking (see parker): quiet is set by the ping when no frame but
	// PONGs came for a whole ping interval (pongs counts those), and
	// cleared by the reader when one does; a quiet session parks its
	// connection between bursts instead of keeping its reader goroutine.
	quiet      atomic.Bool
	pongs      atomic.Uint64
	lastActive uint64
	resume     func() // ss.carryOn, made at the first parking

	// The context Serve was given, as the engine watches it for all its
	// sessions (nil: one that never ends); gidx, above, is the session's
	// index in it.
	watch *watch
}

// maxKeep is the largest written chunk a session keeps for the next
// deliveries; a burst's larger one is let go.
const maxKeep = 1 << 20

// keepChunks is how many chunk headers a written batch's array may hold
// and still be kept for the next batch (the write clears them).
const keepChunks = 64

func newSession(e *Engine, fc FrameConn) *session {
	ss := &session{e: e, fc: fc, wslot: notOnWheel}
	ss.out.Init(batchq.Config[[]byte]{Write: ss.write, End: ss.end, KeepCap: keepChunks, Held: true})
	return ss
}

// newChunkLocked returns an empty chunk to append to: a kept one, or nil
// (append allocates). The queue's lock is held.
func (ss *session) newChunkLocked() []byte {
	if ss.nfree == 0 {
		return nil
	}
	ss.nfree--
	c := ss.free[ss.nfree]
	ss.free[ss.nfree] = nil
	return c[:0]
}

// withTailLocked returns chunks with a last chunk to append a frame of
// about size bytes to: the last one, or a new one (a kept one, if any)
// once it has writeChunk bytes. The queue's lock is held.
func (ss *session) withTailLocked(chunks [][]byte, size int) [][]byte {
	if n := len(chunks); n == 0 || len(chunks[n-1]) >= writeChunk {
		c := ss.newChunkLocked()
		if c == nil && ss.queued >= writeChunk && size <= outChunkSize-writeChunk {
			// A backlog: this chunk will fill up too. Grown from nothing
			// it would double its way there, copying what it holds at each
			// step and dropping the old arrays; at 16 KiB per message that
			// was a third of the broker's CPU. A full-size chunk from the
			// engine's pool never grows and allocates nothing.
			c = ss.e.getChunk()
		}
		chunks = append(chunks, c)
	}
	return chunks
}

// outChunkSize is the capacity of a pooled output chunk: writeChunk bytes
// and room for the frame that crosses that mark, up to 64 KiB, without
// growing. Frames larger than that do not start pooled chunks (one would
// hold only the start of the frame); one that grows a pooled chunk
// anyway makes it an ordinary one, which the pool does not take back.
const outChunkSize = writeChunk + 64<<10

type outChunk [outChunkSize]byte

// getChunk returns an empty output chunk of capacity outChunkSize.
func (e *Engine) getChunk() []byte {
	if p, ok := e.chunks.Get().(*outChunk); ok {
		return p[:0]
	}
	return make([]byte, 0, outChunkSize)
}

// putChunk takes back a written chunk that getChunk made (and that did
// not grow); others are left to the collector.
func (e *Engine) putChunk(c []byte) {
	if cap(c) == outChunkSize {
		e.chunks.Put((*outChunk)(c[:outChunkSize]))
	}
}

// appendLocked encodes a frame with enc at the end of the queued chunks
// and counts it in queued. The queue's lock is held.
func (ss *session) appendLocked(chunks [][]byte, enc func([]byte) []byte) [][]byte {
	chunks = ss.withTailLocked(chunks, 0) // server frames are small
	n := len(chunks)
	before := len(chunks[n-1])
	chunks[n-1] = enc(chunks[n-1])
	ss.queued += len(chunks[n-1]) - before
	return chunks
}

// Deliver implements broker.Conn: it encodes d as a MSG for subscription
// sid into the outbound buffer.
func (ss *session) Deliver(sid uint32, d *broker.Message) (int, bool) {
	var flags wire.Flags
	if d.Retained {
		flags |= wire.FlagRetain
	}
	if d.Retain {
		flags |= wire.FlagRetainFlag
	}
	if d.NoResponders {
		flags |= wire.FlagNoResponders
	}
	chunks, ok := ss.out.Lock()
	if !ok {
		return 0, false
	}
	// appendLocked, written out: a closure here cost the hot path.
	// The frame's size, within the few bytes of its fixed fields.
	size := 32 + len(d.Topic) + len(d.Reply) + len(d.Header) + len(d.Payload)
	chunks = ss.withTailLocked(chunks, size)
	n := len(chunks)
	before := len(chunks[n-1])
	chunks[n-1] = wire.AppendMsgTTL(chunks[n-1], flags, sid, wire.TTLMillis(d.TTL), d.Topic, d.Reply, d.Header, d.Payload)
	ss.queued += len(chunks[n-1]) - before
	pending := ss.queued
	ss.out.Unlock(chunks)
	return pending, true
}

// Pending implements broker.PendingConn: the encoded bytes waiting for the
// writer or being written.
func (ss *session) Pending() int {
	chunks, ok := ss.out.Lock()
	if !ok {
		return 0
	}
	pending := ss.queued
	ss.out.Unlock(chunks)
	return pending
}

// Ack implements broker.Conn. A failure without an ack id (a retained
// publish the store could not keep) is a non-fatal ERR.
func (ss *session) Ack(id uint64, err error) {
	if id == 0 {
		if err != nil {
			ss.refuse(0, 0, err)
		}
		return
	}
	code, text := wire.CodeOK, ""
	if err != nil {
		code, text = Code(err), err.Error()
	}
	ss.send(func(b []byte) []byte { return wire.AppendAck(b, id, code, text) })
}

// Revoke implements broker.Conn: a non-fatal ERR with the subscription's sid.
func (ss *session) Revoke(sid uint32, reason error) { ss.refuse(0, sid, reason) }

// Close implements broker.Conn: flush, send the reason, close.
func (ss *session) Close(reason error) { ss.stop(reason) }

// stop makes the writer finish: it writes what is queued (nothing, for a
// slow consumer), then a fatal ERR frame for a non-nil reason, and closes
// the connection. The first reason wins.
func (ss *session) stop(reason error) {
	ss.mu.Lock()
	if ss.closing {
		ss.mu.Unlock()
		return
	}
	ss.closing = true
	ss.reason = reason
	ss.mu.Unlock()
	slow := errors.Is(reason, broker.ErrSlowConsumer)
	if slow {
		// Before the deadline below: a writer that sets its own deadline
		// after that one sees this and writes no more of its batch.
		ss.slow.Store(true)
	}
	ss.out.Close(func(chunks [][]byte) [][]byte {
		if reason != nil && !isNetErr(reason) {
			ss.last = wire.AppendErr(nil, true, Code(reason), 0, reason.Error())
		}
		if slow {
			for _, c := range chunks {
				ss.queued -= len(c)
			}
			clear(chunks)
			return chunks[:0]
		}
		return chunks
	})
	if slow {
		// Unblock a writer stuck on a peer that does not read.
		ss.fc.SetWriteDeadline(time.Now().Add(slowGrace))
	}
	if s := ss.s.Load(); s != nil {
		// Route nothing more here: a queue group picks another member.
		s.Kick(reason)
	}
}

func (ss *session) closeReason() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.reason
}

// start queues the WELCOME ahead of anything the broker may already have
// queued (a shutdown's ERR), and starts the writer and the ping timer.
func (ss *session) start(welcome []byte) {
	ss.out.Start(func(chunks [][]byte) [][]byte {
		ss.queued += len(welcome)
		if len(chunks) > 0 {
			// One write for the greeting and what came before it (a
			// copy, once, of what little can come before a WELCOME).
			chunks[0] = append(welcome, chunks[0]...)
			return chunks
		}
		return append([][]byte{welcome}, chunks...)
	})
	ss.lastSeen = time.Since(ss.e.epoch)
	ss.e.wheel.add(ss)
}

// ping is the session's visit from the engine's ping wheel, once per ping
// interval: a peer that sent nothing for the dead-peer timeout is stale;
// otherwise it gets a PING (which the client answers, so that a live but
// quiet client keeps sending something).
func (ss *session) ping(now time.Time) {
	// Frames other than PONGs (which these PINGs ask for): none for a
	// whole interval makes the session quiet.
	active := ss.frames.Load() - ss.pongs.Load()
	ss.quiet.Store(active == ss.lastActive)
	ss.lastActive = active
	at := now.Sub(ss.e.epoch)
	if n := ss.frames.Load(); n != ss.lastFrames {
		ss.lastFrames, ss.lastSeen = n, at
	} else if at-ss.lastSeen >= ss.e.opts.DeadPeerTimeout {
		ss.stop(ErrStale)
		return
	}
	ss.sendPing()
}

// sendPing writes a PING straight to a connection that can take it without
// blocking (see tryWriter) when nothing else is queued or being written,
// on the wheel's goroutine; otherwise it queues it for the writer.
func (ss *session) sendPing() {
	if tw, ok := ss.fc.(tryWriter); ok && tw.CanTryWrite() && ss.out.TakeIdle() {
		ss.tryPing(tw)
		ss.out.DoneIdle()
		return
	}
	ss.send(wire.AppendPing)
}

// tryPing is sendPing's write in the writer's place: what the connection
// does not take goes to the queue, whose writer then starts.
func (ss *session) tryPing(tw tryWriter) {
	ping := ss.e.ping
	n, _ := tw.TryWriteFrames(ping)
	switch {
	case n == len(ping):
	case n == 0:
		// It would block, or failed: the writer writes it, or finds
		// the error and ends the session.
		ss.send(wire.AppendPing)
	default:
		// Part of it went: the rest goes out next, as raw bytes (a
		// chunk that is not a whole frame is written as it is).
		rest := ping[n:]
		ss.send(func(b []byte) []byte { return append(b, rest...) })
	}
}

// tryWriter is implemented by FrameConns that can write a few bytes
// without blocking (a plain socket on Linux).
type tryWriter interface {
	CanTryWrite() bool
	// TryWriteFrames writes p (whole frames) if the connection takes it
	// at once, and returns how much of p it took: 0 if writing would
	// block or failed (the error is for the caller's information: the
	// next blocking write finds it again), all of p, or, where the
	// transport can take part of a write, the first n bytes: the rest
	// must then be written next, as bytes.
	TryWriteFrames(p []byte) (int, error)
}

// wait returns once the writer has closed the connection, and the session
// is off the ping wheel (the wheel no longer visits it). ss.stop must have
// been called.
func (ss *session) wait() {
	ss.e.wheel.remove(ss)
	ss.out.Wait()
}

// send queues a frame the server itself originates (PONG, ERR, ACK). These
// count against the slow-consumer limit too: a client that makes the broker
// answer without ever reading must not grow its memory.
func (ss *session) send(appendFrame func([]byte) []byte) {
	pending := 0
	_, ok := ss.out.Append(func(chunks [][]byte) [][]byte {
		chunks = ss.appendLocked(chunks, appendFrame)
		pending = ss.queued
		return chunks
	})
	if !ok {
		return
	}
	if s := ss.s.Load(); s != nil {
		s.CheckPending(pending)
	}
}

// idleReader is implemented by FrameConns that can wait for the peer's
// next bytes holding no read buffer (StreamConn over a TCP socket).
type idleReader interface {
	// CanWaitIdle reports whether WaitIdle works on this connection.
	CanWaitIdle() bool
	// Buffered returns the bytes read and not yet decoded.
	Buffered() int
	// WaitIdle gives the read buffer back and returns when the peer has
	// sent something (or the connection failed). Buffered must be 0.
	WaitIdle() error
}

// scratch is what a reader needs while it handles frames: the decoded
// frame and the message it publishes. Readers take one from the engine for
// a burst of frames and give it back before they wait, so that an idle
// session does not keep one.
type scratch struct {
	f wire.Frame
	m broker.Message
}

// parker is implemented by FrameConns that can hand the wait for their
// peer to a Poller (StreamConn over a TCP socket on Linux, SetPoller).
type parker interface {
	CanPark() bool
	// Park gives the read buffer back and parks the connection: resume
	// runs on a new goroutine when the peer sends or the connection is
	// closed. False: it did not park (the connection is closing).
	Park(resume func()) bool
}

// readLoop turns frames into broker calls until the connection ends, and
// returns the reason (nil for a clean EOF or a BYE), or until it parks the
// connection (parked: the session goes on in carryOn, on another
// goroutine). Where the connection allows (idleReader), it waits for the
// peer between bursts of frames with nothing buffered, no read buffer and
// a shallow stack; a quiet session (see ping) parks instead, and holds no
// goroutine at all while its peer says nothing.
func (ss *session) readLoop(woke bool) (parked bool, reason error) {
	ir, _ := ss.fc.(idleReader)
	if ir != nil && !ir.CanWaitIdle() {
		ir = nil
	}
	pk, _ := ss.fc.(parker)
	if ir == nil || pk != nil && !pk.CanPark() {
		pk = nil
	}
	for {
		if ir != nil && ir.Buffered() == 0 {
			// Just woken, it reads what woke it before parking again.
			if pk != nil && !woke && ss.quiet.Load() {
				if ss.resume == nil {
					ss.resume = ss.carryOn
				}
				ss.shed()
				if pk.Park(ss.resume) {
					return true, nil
				}
			}
			if err := ir.WaitIdle(); err != nil {
				return false, ss.readErr(err)
			}
			woke = false
		}
		if done, err := ss.readFrames(ir); done {
			return false, err
		}
	}
}

// shed lets the write buffers a quiet session keeps go before it parks
// (the kept chunks, the queue's array): the next write takes new ones.
func (ss *session) shed() {
	chunks, ok := ss.out.Lock()
	if !ok {
		return
	}
	if len(chunks) == 0 {
		ss.free, ss.nfree = [2][]byte{}, 0
		chunks = nil
	}
	ss.out.Unlock(chunks)
}

// carryOn takes a parked session up again, on a goroutine of its own.
func (ss *session) carryOn() {
	if parked, reason := ss.readLoop(true); !parked {
		ss.finish(reason)
	}
}

// readFrames handles frames until the connection ends (done, with the
// reason) or, when ir is not nil, until no bytes are left buffered.
func (ss *session) readFrames(ir idleReader) (done bool, err error) {
	sc, _ := ss.e.scratch.Get().(*scratch)
	if sc == nil {
		sc = new(scratch)
	}
	defer func() {
		// Drop the references into the read buffer before pooling.
		*sc = scratch{}
		ss.e.scratch.Put(sc)
	}()
	s := ss.s.Load()
	f := &sc.f
	active := false
	defer func() {
		if active && ss.quiet.Load() {
			ss.quiet.Store(false) // the peer is busy again: do not park
		}
	}()
	for {
		if err := ss.fc.ReadFrame(f); err != nil {
			return true, ss.readErr(err)
		}
		ss.frames.Add(1)
		active = active || f.Type != wire.TypePong
		switch f.Type {
		case wire.TypePub:
			sc.m = pubMessage(f)
			if err := s.Publish(&sc.m); err != nil {
				ss.refuse(f.AckID, 0, err)
			}
		case wire.TypeSub:
			o := broker.SubOptions{
				Queue: string(f.Queue), NoLocal: f.Flags.Has(wire.FlagNoLocal),
				Retained: broker.RetainHandling(f.Flags.RetainHandling()),
			}
			if err := s.Subscribe(f.SID, string(f.Topic), o); err != nil {
				ss.refuse(0, f.SID, err)
			}
		case wire.TypeUnsub:
			if err := s.Unsubscribe(f.SID, f.Max); err != nil {
				ss.refuse(0, f.SID, err)
			}
		case wire.TypePing:
			ss.send(wire.AppendPong)
		case wire.TypePong:
			ss.pongs.Add(1)
		case wire.TypeBye:
			// A clean goodbye: no will; what is queued is still written.
			s.SetWill(nil)
			return true, nil
		default:
			return true, errors.Join(ErrProtocol, errors.New("unexpected "+f.Type.String()+" frame from client"))
		}
		if ir != nil && ir.Buffered() == 0 {
			return false, nil
		}
	}
}

// readErr is the session's reason for a failed read: nil for a clean end
// of stream, the close reason if the session was being stopped anyway.
func (ss *session) readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	if isNetErr(err) && ss.closeReason() != nil {
		return ss.closeReason()
	}
	return err
}

// pubMessage is the broker message a PUB frame asks for. Its slices are the
// frame's, which point into the read buffer: nothing is copied.
func pubMessage(f *wire.Frame) broker.Message {
	return broker.Message{
		Topic: f.Topic, Reply: f.Reply, Header: f.Header, Payload: f.Payload,
		Retain: f.Flags.Has(wire.FlagRetain), AckID: f.AckID,
		TTL: time.Duration(f.TTL) * time.Millisecond,
	}
}

// refuse answers a refused operation: an ACK with the error for an acked
// publish, a non-fatal ERR otherwise.
func (ss *session) refuse(ackID uint64, sid uint32, err error) {
	if ackID != 0 {
		ss.send(func(b []byte) []byte { return wire.AppendAck(b, ackID, Code(err), err.Error()) })
		return
	}
	ss.send(func(b []byte) []byte { return wire.AppendErr(b, false, Code(err), sid, err.Error()) })
}

// writeChunk bounds one write call, so that write_timeout means "the peer
// took nothing for this long", not "the whole backlog did not fit in it".
const writeChunk = 256 << 10

// write is the queue's Write: a batch of chunks of whole frames, each
// written in calls of about writeChunk bytes, renewing the write deadline
// for each. A failed write ends the queue; end then stops the session with
// its error.
func (ss *session) write(batch [][]byte) (int, error) {
	written := 0
	defer func() {
		// The bytes are gone: counted out, and a chunk kept for the next
		// deliveries (one lock per batch, next to the write calls).
		// Pooled chunks go back to the pool, not to ss.free: a
		// session that had a backlog keeps none of them once idle.
		var keep []byte
		if written > 0 {
			if c := batch[written-1]; cap(c) <= maxKeep && cap(c) != outChunkSize {
				keep = c[:0]
			}
		}
		n := 0
		for _, c := range batch[:written] {
			n += len(c)
			ss.e.putChunk(c)
		}
		clear(batch)                // the array may be kept: let the chunks go
		chunks, ok := ss.out.Lock() // no closure: this runs per batch
		if !ok {
			return
		}
		ss.queued -= n
		if keep != nil && int(ss.nfree) < len(ss.free) {
			ss.free[ss.nfree] = keep
			ss.nfree++
		}
		pending := ss.queued
		ss.out.Unlock(chunks)
		if s := ss.s.Load(); s != nil {
			// The broker's memory budget sees the bytes go.
			s.CheckPending(pending)
		}
	}()
	for _, c := range batch {
		for done := 0; done < len(c); {
			n := wire.ChunkLen(c[done:], writeChunk)
			ss.fc.SetWriteDeadline(time.Now().Add(ss.e.opts.WriteTimeout))
			if ss.slow.Load() {
				// stop (slow consumer) came: the chunk being written then
				// got slowGrace, which the deadline above must not extend,
				// and the rest is dropped. (stop sets the flag before its
				// deadline, so one of the two sees the other.)
				written = len(batch)
				return len(batch), nil
			}
			if err := ss.fc.WriteFrames(c[done : done+n]); err != nil {
				return written, err
			}
			done += n
		}
		written++
	}
	return written, nil
}

// end is the queue's End, on the writer goroutine: once everything is
// written, the last frame (within slowGrace for a slow consumer), then the
// connection closes; after a failed write nothing more is written, and
// the session stops with the error.
func (ss *session) end(err error, _ [][]byte) {
	if err != nil {
		ss.stop(err)
	} else if ss.last != nil {
		timeout := ss.e.opts.WriteTimeout
		if ss.slow.Load() {
			timeout = slowGrace
		}
		ss.fc.SetWriteDeadline(time.Now().Add(timeout))
		ss.fc.WriteFrames(ss.last)
	}
	ss.fc.Close()
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
