package sdk_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

func rawHandshake(t *testing.T, c net.Conn, name string) {
	t.Helper()
	if _, err := c.Write(wire.AppendHello(nil, &wire.Hello{Version: wire.Version, Name: name})); err != nil {
		t.Fatal(err)
	}
	var f wire.Frame
	c.SetReadDeadline(time.Now().Add(wait))
	if err := wire.NewReader(c, wire.DefaultMaxFrame).Next(&f); err != nil || f.Type != wire.TypeWelcome {
		t.Fatalf("handshake: %v %v", f.Type, err)
	}
	c.SetReadDeadline(time.Time{})
}

func rawSubscribe(t *testing.T, c net.Conn, sid uint32, filter string) {
	t.Helper()
	if _, err := c.Write(wire.AppendSub(nil, sid, filter, "")); err != nil {
		t.Fatal(err)
	}
}

// readErr reads frames until an ERR frame and returns it.
func readErr(t *testing.T, c net.Conn) wire.Frame {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	r := wire.NewReader(c, wire.DefaultMaxFrame)
	var f wire.Frame
	for {
		if err := r.Next(&f); err != nil {
			t.Fatalf("waiting for ERR: %v", err)
		}
		if f.Type == wire.TypeErr {
			return f
		}
	}
}

func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	if n, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("connection not closed by the server (%d bytes read): %v", n, err)
	}
}

func TestMalformedBytesCloseOnlyThatConnection(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	good := connect(t, srv.URL)
	s := subSync(t, good, "still.alive")
	flush(t, good)

	cases := map[string][]byte{
		"garbage before hello": []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"unknown frame type":   {0, 0, 0, 0, 0x7f, 0},
		"oversized frame":      {0xff, 0xff, 0xff, 0xff, byte(wire.TypePub), 0},
		"truncated body":       {0, 0, 0, 1, byte(wire.TypeSub), 0, 0},
		"server-only frame":    wire.AppendMsg(nil, 0, 1, []byte("a"), nil, nil, []byte("x")),
		"second hello":         wire.AppendHello(nil, &wire.Hello{Version: wire.Version}),
	}
	for name, junk := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if name != "garbage before hello" {
				rawHandshake(t, c, "bad")
			}
			c.Write(junk)
			f := readErr(t, c)
			if !f.Flags.Has(wire.FlagFatal) {
				t.Fatalf("ERR %v not fatal", f.Code)
			}
			expectClosed(t, c)
		})
	}
	good.Publish("still.alive", []byte("yes"))
	if m := next(t, s); string(m.Data) != "yes" {
		t.Fatalf("good client got %q", m.Data)
	}
}

func TestWrongProtocolVersion(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(wire.AppendHello(nil, &wire.Hello{Version: 2}))
	if f := readErr(t, c); f.Code != wire.CodeVersion || !f.Flags.Has(wire.FlagFatal) {
		t.Fatalf("ERR %v fatal=%v", f.Code, f.Flags.Has(wire.FlagFatal))
	}
	expectClosed(t, c)
}

func TestRefusedSubscriptionReported(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxSubscriptions: 1}})
	errs := make(chan error, 4)
	c := connect(t, srv.URL, sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) { errs <- err }))
	first := subSync(t, c, "ok")
	second := subSync(t, c, "too.many")
	third := subSync(t, c, "too.many.again")
	flush(t, c)
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, sdk.ErrTooManySubs) {
				t.Fatalf("async error %v", err)
			}
		case <-time.After(wait):
			t.Fatal("no async error")
		}
	}
	if !first.IsValid() || second.IsValid() || third.IsValid() {
		t.Fatalf("valid: first %v second %v third %v", first.IsValid(), second.IsValid(), third.IsValid())
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := second.NextMsg(ctx); !errors.Is(err, sdk.ErrTooManySubs) {
		t.Fatalf("NextMsg on refused subscription: %v", err)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{HandshakeTimeout: 200 * time.Millisecond}})
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := readErr(t, c) // sends nothing at all
	if f.Code != wire.CodeHandshakeTimeout {
		t.Fatalf("code %v", f.Code)
	}
	expectClosed(t, c)
}

func TestDeadPeerClosed(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{
		PingInterval: 50 * time.Millisecond, DeadPeerTimeout: 150 * time.Millisecond,
	}})
	// A peer that completes the handshake and then never answers a PING.
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rawHandshake(t, c, "mute")
	f := readErr(t, c)
	if f.Code != wire.CodeStale {
		t.Fatalf("code %v", f.Code)
	}
	expectClosed(t, c)

	// An SDK client answers PINGs and stays connected.
	sc := connect(t, srv.URL)
	time.Sleep(400 * time.Millisecond)
	flush(t, sc)
	if sc.Stats().Reconnects != 0 {
		t.Fatal("SDK client was disconnected despite answering PINGs")
	}
}

func TestReconnectRestoresSubscriptions(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	addr := srv.Addr
	var reconnected, disconnected atomic.Int32
	c := connect(t, srv.URL, sdk.ReconnectWait(20*time.Millisecond),
		sdk.DisconnectHandler(func(*sdk.Conn, error) { disconnected.Add(1) }),
		sdk.ReconnectHandler(func(*sdk.Conn) { reconnected.Add(1) }))
	s := subSync(t, c, "after.restart")
	auto := subSync(t, c, "after.restart")
	auto.AutoUnsubscribe(2)
	flush(t, c)
	c.Publish("after.restart", []byte("before"))
	next(t, s)
	next(t, auto)

	srv.Stop()
	waitFor(t, func() bool { return disconnected.Load() == 1 })
	// Published while the broker is down: buffered and sent after reconnect.
	if err := c.Publish("after.restart", []byte("buffered")); err != nil {
		t.Fatal(err)
	}
	srv2 := adapterstest.Start(t, adapterstest.Config{TCP: tcp.Options{Addr: addr}})
	waitFor(t, func() bool { return reconnected.Load() == 1 })
	if m := next(t, s); string(m.Data) != "buffered" {
		t.Fatalf("got %q", m.Data)
	}
	other := connect(t, srv2.URL)
	other.Publish("after.restart", []byte("after"))
	if m := next(t, s); string(m.Data) != "after" {
		t.Fatalf("got %q", m.Data)
	}
	// The auto-unsubscribe limit carried over: one message was left.
	if m := next(t, auto); string(m.Data) != "buffered" {
		t.Fatalf("auto got %q", m.Data)
	}
	nothing(t, auto)
	if c.ConnectedURL() != "tcp://"+addr {
		t.Fatalf("ConnectedURL %q", c.ConnectedURL())
	}
}

func TestConnectFallsBackThroughList(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	// A port with nothing listening: take one and free it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	c := connect(t, "tcp://"+dead+","+srv.URL)
	if c.ConnectedURL() != srv.URL {
		t.Fatalf("connected to %q", c.ConnectedURL())
	}
	if _, err := sdk.Connect("tcp://" + dead); !errors.Is(err, sdk.ErrNoServers) {
		t.Fatalf("all dead: %v", err)
	}
	if _, err := sdk.Connect("http://" + srv.Addr); !errors.Is(err, sdk.ErrBadURL) {
		t.Fatalf("bad scheme: %v", err)
	}
	// A bare host:port is tcp://, as users of other brokers type it.
	bare := connect(t, srv.Addr)
	if bare.ConnectedURL() != srv.URL {
		t.Fatalf("%q connected to %q", srv.Addr, bare.ConnectedURL())
	}
}

func TestGracefulDrainDeliversAccepted(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	sub := connect(t, srv.URL, sdk.MaxReconnects(0))
	var got atomic.Int64
	if _, err := sub.Subscribe("drain.>", func(*sdk.Msg) { got.Add(1) }); err != nil {
		t.Fatal(err)
	}
	flush(t, sub)
	pub := connect(t, srv.URL, sdk.MaxReconnects(0))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	const total = 5000
	for range total - 1 {
		pub.Publish("drain.x", []byte("m"))
	}
	// The ack means the broker accepted everything before it, in order.
	if err := pub.PublishAck(ctx, &sdk.Msg{Topic: "drain.x", Data: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Drain(wait); err != nil {
		t.Fatalf("drain: %v", err)
	}
	waitFor(t, func() bool { return sub.IsClosed() })
	waitFor(t, func() bool { return got.Load() == total })
	var se *sdk.ServerError
	if err := sub.LastError(); !errors.As(err, &se) || se.Code != wire.CodeShutdown {
		t.Fatalf("close reason %v", err)
	}
}

func TestSDKDrain(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c := connect(t, srv.URL)
	var got atomic.Int64
	c.Subscribe("sdkdrain", func(*sdk.Msg) { time.Sleep(time.Millisecond); got.Add(1) })
	flush(t, c)
	for range 100 {
		c.Publish("sdkdrain", nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got.Load() != 100 || !c.IsClosed() {
		t.Fatalf("after drain: %d handled, closed=%v", got.Load(), c.IsClosed())
	}
	if err := c.Publish("x", nil); !errors.Is(err, sdk.ErrClosed) {
		t.Fatalf("publish after drain: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	srv := adapterstest.Start(t, adapterstest.Config{TCP: tcp.Options{
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}},
	}})
	c := connect(t, srv.URL, sdk.TLSConfig(&tls.Config{RootCAs: pool}))
	s := subSync(t, c, "secure")
	flush(t, c)
	c.Publish("secure", []byte("ok"))
	if m := next(t, s); string(m.Data) != "ok" {
		t.Fatalf("got %q", m.Data)
	}
	// Without trusting the certificate the handshake fails.
	if _, err := sdk.Connect(srv.URL, sdk.MaxReconnects(0)); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	// Plain TCP to a TLS listener gets nowhere and harms nobody.
	if _, err := sdk.Connect("tcp://"+srv.Addr, sdk.ConnectTimeout(300*time.Millisecond)); err == nil {
		t.Fatal("plain connection to TLS listener succeeded")
	}
	c.Publish("secure", []byte("still"))
	next(t, s)
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "msgtrans test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// The reconnect handler runs once the broker has the subscriptions back, so
// a message another client publishes from it is delivered, however many
// subscriptions there were to restore. A flush made while disconnected
// completes after the reconnect, not on the restore's confirmation.
func TestReconnectHandlerRunsOnceSubscriptionsAreRestored(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	addr := srv.Addr
	var disconnected atomic.Int32
	published := make(chan error, 1)
	others := make(chan *sdk.Conn, 1) // the client that publishes, once connected
	c := connect(t, srv.URL, sdk.ReconnectWait(20*time.Millisecond),
		sdk.DisconnectHandler(func(*sdk.Conn, error) { disconnected.Add(1) }),
		sdk.ReconnectHandler(func(*sdk.Conn) {
			select {
			case o := <-others:
				published <- o.Publish("restored.last", []byte("from handler"))
			case <-time.After(wait):
				published <- errors.New("the other client never connected")
			}
		}))
	const subs = 2000
	for i := range subs - 1 {
		if _, err := c.Subscribe(fmt.Sprintf("restored.%d", i), func(*sdk.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	last := subSync(t, c, "restored.last")
	flush(t, c)

	srv.Stop()
	waitFor(t, func() bool { return disconnected.Load() == 1 })
	flushed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		flushed <- c.Flush(ctx)
	}()
	srv2 := adapterstest.Start(t, adapterstest.Config{TCP: tcp.Options{Addr: addr}})
	others <- connect(t, srv2.URL)
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("no reconnect")
	}
	if m := next(t, last); string(m.Data) != "from handler" {
		t.Fatalf("got %q", m.Data)
	}
	if err := <-flushed; err != nil {
		t.Fatalf("flush made while disconnected: %v", err)
	}
}

// Subscribing the same filter over and over is refused past the per-topic
// bound, over a real connection, and the publishers never feel the rest:
// a message still reaches the accepted subscriptions once each.
func TestOverlappingSubscriptionsBounded(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxSubscriptionsPerTopic: 4}})
	c := connect(t, srv.URL, sdk.ErrorHandler(func(*sdk.Conn, *sdk.Subscription, error) {}))
	var subs []*sdk.Subscription
	for range 6 {
		subs = append(subs, subSync(t, c, ">"))
	}
	flush(t, c)
	for i, s := range subs {
		if want := i < 4; s.IsValid() != want {
			t.Fatalf("subscription %d to '>': valid %v, want %v (err %v)", i+1, s.IsValid(), want, s.Err())
		}
	}
	if err := subs[5].Err(); !errors.Is(err, sdk.ErrTooManySubs) || !strings.Contains(err.Error(), "at most 4") {
		t.Fatalf("refusal: %v", err)
	}
	if err := c.Publish("any.topic", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if m := next(t, subs[i]); string(m.Data) != "x" {
			t.Fatalf("subscription %d got %q", i+1, m.Data)
		}
	}
}
