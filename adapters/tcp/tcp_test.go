package tcp

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/broker"
)

// accepted listens with opts, connects, and returns the server's side of
// the connection after the adapter's tuning, without running sessions.
func accepted(t *testing.T, opts Options) *net.TCPConn {
	t.Helper()
	b, _ := broker.New(broker.Options{})
	e, _ := adapters.NewEngine(b, adapters.Options{}, "test")
	opts.Addr = "127.0.0.1:0"
	a := New(e, opts)
	if err := a.Listen(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.ln.Close()
	client, err := net.Dial("tcp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, err := a.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a.tune(c)
	return c.(*net.TCPConn)
}

func sockopt(t *testing.T, c *net.TCPConn, level, opt int) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	raw.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), level, opt) })
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

func TestNoDelayOption(t *testing.T) {
	if v := sockopt(t, accepted(t, Options{}), syscall.IPPROTO_TCP, syscall.TCP_NODELAY); v == 0 {
		t.Error("TCP_NODELAY off by default")
	}
	if v := sockopt(t, accepted(t, Options{DisableNoDelay: true}), syscall.IPPROTO_TCP, syscall.TCP_NODELAY); v != 0 {
		t.Error("DisableNoDelay left TCP_NODELAY on")
	}
}

func TestKeepAliveOption(t *testing.T) {
	c := accepted(t, Options{KeepAlive: 7 * time.Second})
	if sockopt(t, c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) == 0 {
		t.Fatal("keep-alive off")
	}
	if idle := sockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE); idle != 7 {
		t.Fatalf("keep-alive idle %ds, want 7s", idle)
	}
	if sockopt(t, accepted(t, Options{KeepAlive: -1}), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 0 {
		t.Fatal("negative KeepAlive left keep-alive on")
	}
}
