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
