package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

// oneClientServer listens on loopback, runs serve on the first connection
// (serve closes it, or keeps it open), and returns the URL to connect to.
func oneClientServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		serve(c)
	}()
	return "tcp://" + ln.Addr().String()
}

// A server that sends a MSG for the inbox subscription with a topic outside
// the inbox does not crash the client (a panic on one of the SDK's
// goroutines would end the test binary): the message is ignored, and the
// request waits for a real reply until its context ends.
func TestMalformedReplyTopicDoesNotCrash(t *testing.T) {
	sent := make(chan struct{})
	url := oneClientServer(t, func(c net.Conn) {
		defer c.Close()
		r := wire.NewReader(c, 0)
		var f wire.Frame
		r.Next(&f) // HELLO
		c.Write(wire.AppendWelcome(nil, &wire.Welcome{Version: 1, ServerID: "evil", MaxPayload: 1 << 20, HeartbeatMS: 30000}))
		for r.Next(&f) == nil {
			if f.Type == wire.TypeSub && bytes.HasPrefix(f.Topic, []byte("_INBOX.")) {
				c.Write(wire.AppendMsg(nil, 0, f.SID, []byte("x"), nil, nil, nil))
				close(sent)
			}
		}
	})
	c, err := sdk.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.Request(ctx, "svc", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request answered by a malformed MSG: %v", err)
	}
	select {
	case <-sent:
	default:
		t.Fatal("the hostile server never sent its MSG")
	}
	if c.IsClosed() {
		t.Fatal("the connection closed")
	}
}

// A server that stops reading makes a fast publisher wait instead of
// queueing without bound, and Close releases the waiting publisher.
func TestPublisherWaitsForAServerThatDoesNotRead(t *testing.T) {
	stopped := make(chan net.Conn, 1)
	url := oneClientServer(t, func(c net.Conn) {
		r := wire.NewReader(c, 0)
		var f wire.Frame
		r.Next(&f) // HELLO
		c.Write(wire.AppendWelcome(nil, &wire.Welcome{Version: wire.Version, ServerID: "stuck", MaxPayload: 1 << 20, HeartbeatMS: 30000}))
		stopped <- c // and never read again
	})
	c, err := sdk.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srvConn := <-stopped
	defer srvConn.Close()

	errc := make(chan error, 1)
	go func() {
		payload := make([]byte, 1024)
		for {
			if err := c.Publish("stuck", payload); err != nil {
				errc <- err
				return
			}
		}
	}()
	// The socket buffers fill, then the queue; then Publish waits. Wait
	// until the publisher has made no progress for a while.
	var last uint64
	for {
		time.Sleep(200 * time.Millisecond)
		n := c.Stats().OutMsgs
		if n == last && n > 0 {
			break
		}
		if n > 64<<10 {
			// The kernel's socket buffers (a few MiB on loopback at most)
			// plus the 512 KiB queue hold far less.
			t.Fatalf("%d KiB published into a server that reads nothing", n)
		}
		last = n
	}
	select {
	case err := <-errc:
		t.Fatalf("publish failed instead of waiting: %v", err)
	default:
	}
	// A publish with a context stops waiting when the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	ackErr := make(chan error, 1)
	go func() { ackErr <- c.PublishAck(ctx, &sdk.Msg{Topic: "stuck", Data: []byte("x")}) }()
	select {
	case err := <-ackErr:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("PublishAck returned %v, want DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		// Without the context it would wait for the 10 s write deadline.
		t.Fatal("PublishAck ignored its context while waiting for queue space")
	}
	// Close writes what is queued first (here, until its write deadline);
	// the waiting publisher is released at once.
	go c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, sdk.ErrClosed) {
			t.Fatalf("waiting publish returned %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not release the waiting publisher")
	}
}
