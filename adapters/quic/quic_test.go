package quic_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/adapters/quic"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

const wait = 5 * time.Second

func addr(s *adapterstest.Server) string { return strings.TrimPrefix(s.QUICURL, "quic://") }

// dial opens a QUIC connection to srv that offers the native protocol.
func dial(ctx context.Context, t *testing.T, srv *adapterstest.Server, conf *quicgo.Config) *quicgo.Conn {
	t.Helper()
	c, err := quicgo.DialAddr(ctx, addr(srv), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{wire.ALPN}}, conf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openSession opens the connection's stream and completes the handshake.
func openSession(ctx context.Context, t *testing.T, c *quicgo.Conn) *quicgo.Stream {
	t.Helper()
	s, err := c.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(wire.AppendHello(nil, &wire.Hello{Version: wire.Version}))
	var f wire.Frame
	if err := wire.NewReader(s, wire.DefaultMaxFrame).Next(&f); err != nil || f.Type != wire.TypeWelcome {
		t.Fatalf("%v %v", f.Type, err)
	}
	return s
}

func TestWrongALPNRefused(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := quicgo.DialAddr(ctx, addr(srv), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h3"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "no application protocol") {
		t.Fatalf("wrong ALPN: %v", err)
	}
}

func TestClientWithoutStreamIsClosed(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Engine: adapters.Options{HandshakeTimeout: 200 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c := dial(ctx, t, srv, nil)
	select {
	case <-c.Context().Done():
	case <-time.After(wait):
		t.Fatal("connection without a stream not closed")
	}
	var ae *quicgo.ApplicationError
	if err := context.Cause(c.Context()); !errors.As(err, &ae) || ae.ErrorCode != quic.CodeNoStream {
		t.Fatalf("close: %v", err)
	}
}

// The protocol uses one bidirectional stream per connection, so QUIC's own
// stream limit refuses any other stream a client tries to open: a stream
// nobody would accept is never opened.
func TestOnlyOneStreamPerConnection(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c := dial(ctx, t, srv, nil)
	defer c.CloseWithError(0, "")
	openSession(ctx, t, c)
	if _, err := c.OpenStream(); !errors.Is(err, &quicgo.StreamLimitReachedError{}) {
		t.Errorf("second bidirectional stream: %v, want the stream limit", err)
	}
	if _, err := c.OpenUniStream(); !errors.Is(err, &quicgo.StreamLimitReachedError{}) {
		t.Errorf("unidirectional stream: %v, want the stream limit", err)
	}
}

func TestIdleClientKeptAliveAndShutdownCode(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{QUIC: quic.Options{
		KeepAlivePeriod: 50 * time.Millisecond, MaxIdleTimeout: 200 * time.Millisecond,
	}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c := dial(ctx, t, srv, &quicgo.Config{MaxIdleTimeout: time.Minute}) // only the server's keep-alive can save it
	openSession(ctx, t, c)
	time.Sleep(4 * 200 * time.Millisecond) // idle for four idle timeouts
	if err := context.Cause(c.Context()); err != nil {
		t.Fatalf("idle connection dropped: %v", err)
	}
	srv.Stop()
	select {
	case <-c.Context().Done():
	case <-time.After(wait):
		t.Fatal("not closed at shutdown")
	}
	var ae *quicgo.ApplicationError
	if err := context.Cause(c.Context()); !errors.As(err, &ae) || ae.ErrorCode != quic.CodeShutdown {
		t.Fatalf("close at shutdown: %v", err)
	}
}

func TestCertificateKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	c1, created, err := quic.LoadOrCreateCert(dir)
	if err != nil || !created {
		t.Fatalf("first: created=%v %v", created, err)
	}
	c2, created, err := quic.LoadOrCreateCert(dir)
	if err != nil || created {
		t.Fatalf("second: created=%v %v", created, err)
	}
	if quic.Fingerprint(c1) != quic.Fingerprint(c2) || len(quic.Fingerprint(c1)) != 64 {
		t.Fatal("certificate changed between restarts")
	}
}

func TestSDKOverQUIC(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c, err := sdk.Connect(srv.QUICURL, sdk.PinnedCertSHA256(srv.CertSHA256))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, _ := c.SubscribeSync("q")
	c.Publish("q", []byte("over quic"))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if m, err := s.NextMsg(ctx); err != nil || string(m.Data) != "over quic" {
		t.Fatalf("%v %v", m, err)
	}
}
