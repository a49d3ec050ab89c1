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

// Transport is one connection to a broker carrying the native protocol as
// a byte stream, as returned by a CustomDialer. Write may modify p.
type Transport interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Close() error
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

type transport = Transport

// CustomDialer makes Connect reach every URL of its list through dial,
// whatever the URL's scheme: for transports the SDK does not know, such as
// the tunnel a protocol plugin opens into the broker (sdk/plugin).
func CustomDialer(dial func(ctx context.Context, u *url.URL) (Transport, error)) Option {
	return func(o *Options) error { o.dialer = dial; return nil }
}

// parseURLs splits a comma-separated list of server URLs; with custom
// true, any scheme is accepted.
func parseURLs(list string, custom bool) ([]*url.URL, error) {
	var out []*url.URL
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !custom && !strings.Contains(s, "://") {
			s = "tcp://" + s // a bare host:port, as nats and mosquitto users type it
		}
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrBadURL, s, err)
		}
		if custom {
			out = append(out, u)
			continue
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
	if c.opts.dialer != nil {
		return c.opts.dialer(ctx, u)
	}
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
