package tcp_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
	"github.com/msgtrans/msgtrans/wire"
)

// A backlog of megabytes of 16 KiB messages for two clients that do not
// read yet (their output goes into full-size chunks that the engine's
// sessions share through a pool) reaches each client whole, in order, and
// with only its own bytes, once they read.
func TestBacklogArrivesWholeAndInOrder(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxPending: 64 << 20}})
	subscribe := func(topic string) (net.Conn, *wire.Reader) {
		// A small receive buffer keeps the backlog in the broker, not in
		// the kernel. It is set before the connection is made: shrunk
		// after the handshake, Linux's receive window could stall the
		// connection outright (about one run in two under -race).
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var err error
			rc.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
			})
			return err
		}}
		c, err := d.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		var b []byte
		b = wire.AppendHello(b, &wire.Hello{Version: wire.Version})
		b = wire.AppendSub(b, 1, topic, "")
		b = wire.AppendPing(b)
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		r := wire.NewReader(c, 0)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for _, want := range []wire.Type{wire.TypeWelcome, wire.TypePong} {
			var f wire.Frame
			if err := r.Next(&f); err != nil || f.Type != want {
				t.Fatalf("%s: got %v (%v), want %v", topic, f.Type, err, want)
			}
		}
		return c, r
	}
	ca, ra := subscribe("a")
	cb, rb := subscribe("b")

	pub, err := brokertest.NewClient(srv.B, "pub", false)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const n, size = 400, 16 << 10 // 6.4 MiB for each client
	payload := func(topic byte, i int) []byte {
		p := bytes.Repeat([]byte{topic ^ byte(i)}, size)
		binary.BigEndian.PutUint32(p, uint32(i))
		return p
	}
	for i := range n {
		for _, topic := range []byte{'a', 'b'} {
			if err := pub.Publish(string(topic), payload(topic, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, s := range []struct {
		topic byte
		c     net.Conn
		r     *wire.Reader
	}{{'a', ca, ra}, {'b', cb, rb}} {
		s.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for i := 0; i < n; {
			var f wire.Frame
			if err := s.r.Next(&f); err != nil {
				t.Fatalf("%c: after %d messages: %v", s.topic, i, err)
			}
			if f.Type == wire.TypePing {
				continue
			}
			if f.Type != wire.TypeMsg || string(f.Topic) != string(s.topic) {
				t.Fatalf("%c: message %d: got %v on %q", s.topic, i, f.Type, f.Topic)
			}
			if !bytes.Equal(f.Payload, payload(s.topic, i)) {
				t.Fatalf("%c: message %d: wrong bytes (carries number %d)", s.topic, i, binary.BigEndian.Uint32(f.Payload))
			}
			i++
		}
	}
}
