package ws

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/msgtrans/msgtrans/wire"
)

// partialConn takes the first budget bytes, then fails once with a
// timeout (a write deadline on a peer that stopped reading), and takes
// everything afterwards.
type partialConn struct {
	net.Conn
	out    bytes.Buffer
	budget int
	failed bool
}

func (p *partialConn) Write(b []byte) (int, error) {
	if !p.failed && len(b) > p.budget {
		p.failed = true
		p.out.Write(b[:p.budget])
		return p.budget, os.ErrDeadlineExceeded
	}
	p.out.Write(b)
	return len(b), nil
}
func (p *partialConn) SetWriteDeadline(time.Time) error { return nil }
func (p *partialConn) Close() error                     { return nil }

// After a write that failed part-way through a message, nothing more is
// written: a close frame's 4 bytes would otherwise complete the truncated
// message, and the peer would decode a MSG with a corrupted payload.
func TestNothingFollowsAPartialWrite(t *testing.T) {
	payload := bytes.Repeat([]byte("A"), 100)
	frame := wire.AppendMsg(nil, 0, 1, []byte("t"), nil, nil, payload)
	wsLen := 2 + len(frame) // a 7-bit length, unmasked
	pc := &partialConn{budget: wsLen - 4}
	wc := newConn(pc, 1<<20)
	if err := wc.WriteFrames(frame); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WriteFrames: %v", err)
	}
	if err := wc.writeControl(gws.OpPong, nil); err == nil {
		t.Fatal("a pong was written after the failed write")
	}
	wc.Close() // what the session writer does after a failed write
	if got := pc.out.Len(); got != wsLen-4 {
		t.Fatalf("%d bytes on the wire, want the %d of the failed write only", got, wsLen-4)
	}
	rd := wsutil.Reader{Source: bytes.NewReader(pc.out.Bytes()), State: gws.StateClientSide}
	hdr, err := rd.NextFrame()
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	msg := make([]byte, hdr.Length)
	if _, err := io.ReadFull(&rd, msg); err == nil {
		t.Fatal("the peer read a whole message")
	}
}

// deadlineConn records the write deadline and takes every write.
type deadlineConn struct {
	net.Conn
	deadline time.Time
	out      bytes.Buffer
}

func (d *deadlineConn) Write(b []byte) (int, error)        { return d.out.Write(b) }
func (d *deadlineConn) SetWriteDeadline(t time.Time) error { d.deadline = t; return nil }
func (d *deadlineConn) Close() error                       { return nil }

// A pong written between the writer setting its deadline and writing its
// batch leaves the writer's deadline in place, not its own one second.
func TestControlFrameKeepsTheWritersDeadline(t *testing.T) {
	dc := &deadlineConn{}
	wc := newConn(dc, 1<<20)
	want := time.Now().Add(time.Minute)
	wc.SetWriteDeadline(want)
	if err := wc.writeControl(gws.OpPong, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if !dc.deadline.Equal(want) {
		t.Fatalf("deadline %v after the pong, want the writer's %v", dc.deadline, want)
	}
	if dc.out.Len() == 0 {
		t.Fatal("no pong written")
	}
}

// A batch of small and large frames (the large ones written from the
// caller's buffer, beside the copied headers) reaches the peer as one
// binary message per frame, in order, byte for byte; the writer keeps no
// reference to the caller's buffer afterwards.
func TestMixedBatchArrivesInOrder(t *testing.T) {
	var batch []byte
	var want [][]byte
	for i, size := range []int{10, directFrame, 100, 64 << 10, directFrame - 1, 200 << 10, 0, 16 << 10} {
		f := wire.AppendMsg(nil, 0, uint32(i), []byte("t"), nil, nil, bytes.Repeat([]byte{byte(i + 1)}, size))
		want = append(want, f)
		batch = append(batch, f...)
	}
	dc := &deadlineConn{}
	wc := newConn(dc, 1<<20)
	for round := range 2 { // the second batch reuses the writer's buffers
		if err := wc.WriteFrames(batch); err != nil {
			t.Fatal(err)
		}
		for i, p := range wc.iov[:cap(wc.iov)] {
			if p != nil {
				t.Fatalf("round %d: the writer still holds piece %d of the batch", round, i)
			}
		}
	}
	rd := wsutil.Reader{Source: bytes.NewReader(dc.out.Bytes()), State: gws.StateClientSide}
	for round := range 2 {
		for i, w := range want {
			hdr, err := rd.NextFrame()
			if err != nil {
				t.Fatalf("round %d, message %d: %v", round, i, err)
			}
			if hdr.OpCode != gws.OpBinary || !hdr.Fin || hdr.Masked {
				t.Fatalf("round %d, message %d: header %+v", round, i, hdr)
			}
			got, err := io.ReadAll(&rd)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, w) {
				t.Fatalf("round %d, message %d: %d bytes, want the frame's %d", round, i, len(got), len(w))
			}
		}
	}
	if _, err := rd.NextFrame(); err != io.EOF {
		t.Fatalf("after the messages: %v, want EOF", err)
	}
}
