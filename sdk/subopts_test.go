package sdk_test

import (
	"context"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
)

func subWith(t *testing.T, c *sdk.Conn, filter string, opts ...sdk.SubOption) *sdk.Subscription {
	t.Helper()
	s, err := c.SubscribeWith(filter, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func expectData(t *testing.T, s *sdk.Subscription, want string) *sdk.Msg {
	t.Helper()
	m := next(t, s)
	if string(m.Data) != want {
		t.Fatalf("%s: got %q, want %q", s.Topic, m.Data, want)
	}
	return m
}

func TestNoLocalSubscription(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	a, b := connect(t, srv.URL), connect(t, srv.URL)
	local := subWith(t, a, "x")
	noLocal := subWith(t, a, "x", sdk.SubNoLocal())
	flush(t, a)
	a.Publish("x", []byte("own"))
	flush(t, a) // routed before b's marker
	b.Publish("x", []byte("marker"))
	expectData(t, local, "own")
	expectData(t, local, "marker")
	expectData(t, noLocal, "marker") // not "own"
}

func TestRetainHandlingAndFlags(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	pub, c := connect(t, srv.URL), connect(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := pub.PublishAck(ctx, &sdk.Msg{Topic: "r.a", Data: []byte("kept"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	send := subWith(t, c, "r.*")
	never := subWith(t, c, "r.*", sdk.SubRetain(sdk.RetainNever))
	ifNewAgain := subWith(t, c, "r.*", sdk.SubRetain(sdk.RetainIfNew)) // "r.*" exists already
	ifNewFirst := subWith(t, c, "r.>", sdk.SubRetain(sdk.RetainIfNew))
	flush(t, c)
	pub.PublishMsg(&sdk.Msg{Topic: "r.a", Data: []byte("live-retained"), Retain: true})
	pub.Publish("r.a", []byte("live"))

	m := expectData(t, send, "kept")
	if !m.Retain || !m.RetainFlag {
		t.Fatalf("replayed: Retain %v RetainFlag %v, want both", m.Retain, m.RetainFlag)
	}
	m = expectData(t, send, "live-retained")
	if m.Retain || !m.RetainFlag {
		t.Fatalf("live retained publish: Retain %v RetainFlag %v, want false, true", m.Retain, m.RetainFlag)
	}
	m = expectData(t, send, "live")
	if m.Retain || m.RetainFlag {
		t.Fatalf("plain publish: Retain %v RetainFlag %v", m.Retain, m.RetainFlag)
	}
	expectData(t, never, "live-retained")
	expectData(t, ifNewAgain, "live-retained")
	expectData(t, ifNewFirst, "kept")
	if err := func() error { _, err := c.SubscribeWith("r.*", nil, sdk.SubRetain(3)); return err }(); err == nil {
		t.Fatal("retain handling 3 accepted")
	}
}

func TestMessageTTL(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	pub, c := connect(t, srv.URL), connect(t, srv.URL)
	s := subSync(t, c, "ttl.>")
	flush(t, c)
	pub.PublishMsg(&sdk.Msg{Topic: "ttl.a", Data: []byte("short"), TTL: 20 * time.Millisecond})
	pub.PublishMsg(&sdk.Msg{Topic: "ttl.a", Data: []byte("long"), TTL: time.Hour})
	pub.Publish("ttl.a", []byte("forever"))
	flush(t, pub)
	flush(t, c)                       // all three are in the subscription's queue
	time.Sleep(50 * time.Millisecond) // longer than "short" may live
	m := expectData(t, s, "long")     // "short" expired in the queue and was dropped
	if m.TTL <= 0 || m.TTL > time.Hour {
		t.Fatalf("TTL %v", m.TTL)
	}
	if m := expectData(t, s, "forever"); m.TTL != 0 {
		t.Fatalf("TTL %v on a message without one", m.TTL)
	}

	// A retained message carries what is left of its TTL.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := pub.PublishAck(ctx, &sdk.Msg{Topic: "ttl.kept", Data: []byte("k"), Retain: true, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	late := subSync(t, c, "ttl.kept")
	if m := expectData(t, late, "k"); m.TTL <= 0 || m.TTL > time.Minute {
		t.Fatalf("replayed TTL %v", m.TTL)
	}
}

// closedEvents reports each session's close, in order.
func closedEvents(ch chan<- broker.SessionInfo) func(broker.Event) {
	return func(e broker.Event) {
		if e.Kind == broker.SessionClosed {
			ch <- e.Session
		}
	}
}

func TestWill(t *testing.T) {
	closed := make(chan broker.SessionInfo, 16)
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{OnEvent: closedEvents(closed)}})
	watcher := connect(t, srv.URL, sdk.Name("watcher"))
	wills := subSync(t, watcher, "will.>")
	flush(t, watcher)

	// A connection that vanishes (no BYE): its will is published.
	raws := make(chan net.Conn, 1)
	dial := func(ctx context.Context, u *url.URL) (sdk.Transport, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
		if err == nil {
			raws <- c
		}
		return c, err
	}
	will := &sdk.Msg{Topic: "will.a", Data: []byte("a is gone"), Header: sdk.Header{"why": {"crash"}}}
	a := connect(t, srv.URL, sdk.Name("a"), sdk.CustomDialer(dial), sdk.MaxReconnects(0), sdk.Will(will, 0))
	flush(t, a)
	(<-raws).Close()
	m := expectData(t, wills, "a is gone")
	if m.Topic != "will.a" || m.Header.Get("why") != "crash" {
		t.Fatalf("will %q %v", m.Topic, m.Header)
	}
	a.Close()

	// Close sends BYE: no will.
	b := connect(t, srv.URL, sdk.Name("b"), sdk.Will(&sdk.Msg{Topic: "will.b", Data: []byte("b")}, 0))
	flush(t, b)
	b.Close()
	for info := range closed {
		if info.Name == "b" {
			break
		}
	}
	watcher.Publish("will.marker", []byte("marker"))
	expectData(t, wills, "marker") // the will of b would have come first

	// A will with a delay goes out no sooner.
	const delay = 100 * time.Millisecond
	rawsC := make(chan net.Conn, 1)
	dialC := func(ctx context.Context, u *url.URL) (sdk.Transport, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
		if err == nil {
			rawsC <- c
		}
		return c, err
	}
	c := connect(t, srv.URL, sdk.Name("c"), sdk.CustomDialer(dialC), sdk.MaxReconnects(0),
		sdk.Will(&sdk.Msg{Topic: "will.c", Data: []byte("c")}, delay))
	flush(t, c)
	rawC := <-rawsC
	cut := time.Now() // the session ends after this, and its will waits from then
	rawC.Close()
	expectData(t, wills, "c")
	if since := time.Since(cut); since < delay {
		t.Fatalf("delayed will arrived %v after the connection was cut, delay %v", since, delay)
	}
	c.Close()

	if _, err := sdk.Connect(srv.URL, sdk.Will(&sdk.Msg{Topic: "bad.*"}, 0)); err == nil {
		t.Fatal("a will to a wildcard topic accepted")
	}
}
