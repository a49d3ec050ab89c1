package sdk_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/adapters/ws"
	"github.com/msgtrans/msgtrans/sdk"
)

var transports = []string{"tcp", "ws", "quic"}

// dialTransport connects to srv over the named transport.
func dialTransport(t *testing.T, srv *adapterstest.Server, name string, opts ...sdk.Option) *sdk.Conn {
	t.Helper()
	switch name {
	case "tcp":
		return connect(t, srv.URL, opts...)
	case "ws":
		return connect(t, srv.WSURL, opts...)
	case "quic":
		return connect(t, srv.QUICURL, append(opts, sdk.PinnedCertSHA256(srv.CertSHA256))...)
	}
	t.Fatalf("unknown transport %s", name)
	return nil
}

func TestTransportMatrix(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	for _, pubT := range transports {
		for _, subT := range transports {
			t.Run(pubT+"->"+subT, func(t *testing.T) {
				pub := dialTransport(t, srv, pubT, sdk.Name("pub-"+pubT))
				sub := dialTransport(t, srv, subT, sdk.Name("sub-"+subT))
				topic := fmt.Sprintf("matrix.%s.%s", pubT, subT)

				// Plain pub/sub with a wildcard, headers and a 64 KiB payload.
				s := subSync(t, sub, "matrix.*."+subT)
				flush(t, sub)
				big := make([]byte, 64<<10)
				for i := range big {
					big[i] = byte(i)
				}
				m := &sdk.Msg{Topic: topic, Data: big, Header: sdk.Header{"From": {pubT}}}
				if err := pub.PublishMsg(m); err != nil {
					t.Fatal(err)
				}
				got := next(t, s)
				if got.Topic != topic || len(got.Data) != len(big) || got.Data[1000] != big[1000] || got.Header.Get("From") != pubT {
					t.Fatalf("got %s, %d bytes, header %v", got.Topic, len(got.Data), got.Header)
				}

				// Request-reply, both directions.
				for _, dir := range []struct{ req, resp *sdk.Conn }{{pub, sub}, {sub, pub}} {
					svc := topic + ".svc"
					rs, err := dir.resp.Subscribe(svc, func(m *sdk.Msg) { m.Respond(append([]byte("ok:"), m.Data...)) })
					if err != nil {
						t.Fatal(err)
					}
					flush(t, dir.resp)
					ctx, cancel := context.WithTimeout(context.Background(), wait)
					r, err := dir.req.Request(ctx, svc, []byte("ping"))
					cancel()
					if err != nil || string(r.Data) != "ok:ping" {
						t.Fatalf("request: %v %v", r, err)
					}
					rs.Unsubscribe()
				}

				// Retained: published over pubT, delivered over subT.
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				if err := pub.PublishAck(ctx, &sdk.Msg{Topic: topic + ".state", Data: []byte("on"), Retain: true}); err != nil {
					t.Fatal(err)
				}
				rs := subSync(t, sub, topic+".>")
				if m := next(t, rs); !m.Retain || string(m.Data) != "on" {
					t.Fatalf("retained: %+v", m)
				}
			})
		}
	}
}

func TestQueueGroupAcrossTransports(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	var mu sync.Mutex
	counts := map[string]int{}
	seen := map[string]bool{}
	var wg sync.WaitGroup
	const total = 300
	wg.Add(total)
	for _, tr := range transports {
		c := dialTransport(t, srv, tr)
		if _, err := c.QueueSubscribe("jobs.>", "workers", func(m *sdk.Msg) {
			mu.Lock()
			counts[tr]++
			if seen[string(m.Data)] {
				t.Errorf("job %s delivered twice", m.Data)
			}
			seen[string(m.Data)] = true
			mu.Unlock()
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
		flush(t, c)
	}
	pub := dialTransport(t, srv, "tcp")
	for i := range total {
		pub.Publish("jobs.new", []byte(fmt.Sprint(i)))
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("jobs handled: %v", counts)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, tr := range transports {
		if counts[tr] == 0 {
			t.Fatalf("no job went to the %s member: %v", tr, counts)
		}
	}
}

func TestFallbackThroughURLList(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	deadTCP := freeAddr(t, "tcp")
	deadUDP := freeAddr(t, "udp")
	pin := sdk.PinnedCertSHA256(srv.CertSHA256)

	// QUIC unreachable (nothing on that UDP port), TCP refused: WebSocket wins.
	list := "quic://" + deadUDP + ",tcp://" + deadTCP + "," + srv.WSURL
	c := connect(t, list, pin, sdk.ConnectTimeout(500*time.Millisecond))
	if c.ConnectedURL() != srv.WSURL {
		t.Fatalf("connected to %q", c.ConnectedURL())
	}

	// A real list: QUIC first, and it works.
	q := connect(t, srv.QUICURL+","+srv.URL+","+srv.WSURL, pin)
	if q.ConnectedURL() != srv.QUICURL {
		t.Fatalf("connected to %q", q.ConnectedURL())
	}
}

func TestReconnectWalksTheList(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	addr := srv.Addr
	deadUDP := freeAddr(t, "udp")
	reconnected := make(chan struct{}, 1)
	c := connect(t, "quic://"+deadUDP+",tcp://"+addr, sdk.ReconnectWait(20*time.Millisecond),
		sdk.ConnectTimeout(300*time.Millisecond), sdk.PinnedCertSHA256(srv.CertSHA256),
		sdk.ReconnectHandler(func(*sdk.Conn) { reconnected <- struct{}{} }))
	if c.ConnectedURL() != "tcp://"+addr {
		t.Fatalf("connected to %q", c.ConnectedURL())
	}
	s := subSync(t, c, "walk")
	flush(t, c)
	srv.Stop()
	srv2 := adapterstest.Start(t, adapterstest.Config{TCP: tcp.Options{Addr: addr}})
	select {
	case <-reconnected:
	case <-time.After(wait):
		t.Fatal("no reconnect")
	}
	other := dialTransport(t, srv2, "ws")
	other.Publish("walk", []byte("again"))
	if m := next(t, s); string(m.Data) != "again" {
		t.Fatalf("got %q", m.Data)
	}
}

func TestQUICTrust(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	// Not trusted: the generated certificate is self-signed.
	_, err := sdk.Connect(srv.QUICURL, sdk.MaxReconnects(0))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	// A wrong pin is refused.
	wrong := strings.Repeat("ab", 32)
	if _, err := sdk.Connect(srv.QUICURL, sdk.PinnedCertSHA256(wrong)); !errors.Is(err, sdk.ErrCertPin) {
		t.Fatalf("wrong pin: %v", err)
	}
	// The right pin, with colons as people copy it, is accepted.
	var colons []string
	for i := 0; i < len(srv.CertSHA256); i += 2 {
		colons = append(colons, strings.ToUpper(srv.CertSHA256[i:i+2]))
	}
	c := connect(t, srv.QUICURL, sdk.PinnedCertSHA256(strings.Join(colons, ":")))
	flush(t, c)
	// Development escape hatch.
	connect(t, srv.QUICURL, sdk.InsecureSkipVerify())
	if _, err := sdk.Connect(srv.URL, sdk.PinnedCertSHA256("xyz")); err == nil {
		t.Fatal("malformed pin accepted")
	}
}

// freeAddr returns a loopback address with nothing listening.
func freeAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestSecureWebSocket(t *testing.T) {
	cert, pool := selfSigned(t)
	srv := adapterstest.Start(t, adapterstest.Config{WS: ws.Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}})
	if !strings.HasPrefix(srv.WSURL, "wss://") {
		t.Fatalf("url %s", srv.WSURL)
	}
	c := connect(t, srv.WSURL, sdk.RootCAs(pool))
	s := subSync(t, c, "wss.test")
	flush(t, c)
	c.Publish("wss.test", []byte("secure"))
	if m := next(t, s); string(m.Data) != "secure" {
		t.Fatalf("got %q", m.Data)
	}
	if _, err := sdk.Connect(srv.WSURL, sdk.MaxReconnects(0)); err == nil {
		t.Fatal("untrusted wss certificate accepted")
	}
}
