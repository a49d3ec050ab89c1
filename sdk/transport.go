package sdk

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/msgtrans/msgtrans/wire"
)

// transport is one connection to a server carrying native frames as a
// byte stream.
type transport interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Close() error
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// parseURLs splits a comma-separated list of server URLs.
func parseURLs(list string) ([]*url.URL, error) {
	var out []*url.URL
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrBadURL, s, err)
		}
		switch u.Scheme {
		case "tcp", "tls", "quic":
		case "ws", "wss":
			if u.Path == "" {
				u.Path = wire.DefaultWebSocketPath
			}
		default:
			return nil, fmt.Errorf("%w: %q: unsupported scheme %q (want tcp, tls, ws, wss or quic)", ErrBadURL, s, u.Scheme)
		}
		if u.Port() == "" {
			return nil, fmt.Errorf("%w: %q: missing port", ErrBadURL, s)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadURL)
	}
	return out, nil
}

func (c *Conn) dial(ctx context.Context, u *url.URL) (transport, error) {
	var d net.Dialer
	switch u.Scheme {
	case "tcp":
		return d.DialContext(ctx, "tcp", u.Host)
	case "tls":
		td := tls.Dialer{NetDialer: &d, Config: c.opts.tlsConfig(u.Hostname())}
		nc, err := td.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		return nc.(*tls.Conn), nil
	case "ws", "wss":
		return c.dialWS(ctx, u)
	case "quic":
		return c.dialQUIC(ctx, u)
	}
	return nil, fmt.Errorf("%w: unsupported scheme %q", ErrBadURL, u.Scheme)
}
