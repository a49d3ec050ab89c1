package sdk

import (
	"context"
	"crypto/tls"
	"net/url"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/msgtrans/msgtrans/wire"
)

// quicTransport is the one bidirectional stream of a QUIC connection.
type quicTransport struct {
	*quicgo.Stream
	conn *quicgo.Conn
}

func (c *Conn) dialQUIC(ctx context.Context, u *url.URL) (transport, error) {
	cfg := c.opts.tlsConfig(u.Hostname())
	cfg.NextProtos = []string{wire.ALPN}
	cfg.MinVersion = tls.VersionTLS13
	conn, err := quicgo.DialAddr(ctx, u.Host, cfg, &quicgo.Config{
		HandshakeIdleTimeout: c.opts.ConnectTimeout,
		KeepAlivePeriod:      15 * time.Second,
		MaxIdleTimeout:       30 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		conn.CloseWithError(0, "")
		return nil, err
	}
	return &quicTransport{Stream: s, conn: conn}, nil
}

func (t *quicTransport) Close() error {
	return t.conn.CloseWithError(0, "")
}
