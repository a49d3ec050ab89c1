package sdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net/url"
	"time"

	"github.com/msgtrans/msgtrans/topics"
	"github.com/msgtrans/msgtrans/wire"
)

// Options configures a Conn. Set them with the Option functions.
type Options struct {
	Name      string
	Token     string
	User      string
	Password  string
	TLSConfig *tls.Config
	NoEcho    bool

	// ConnectTimeout bounds dialing and the handshake with one server.
	ConnectTimeout time.Duration
	// ReconnectWait is the pause before the first reconnect attempt; it
	// doubles on each attempt up to MaxReconnectWait, with jitter.
	ReconnectWait    time.Duration
	MaxReconnectWait time.Duration
	// MaxReconnects is how many reconnect attempts are made after a lost
	// connection before giving up: 0 never reconnects, negative never
	// gives up.
	MaxReconnects int
	// ReconnectBufSize bounds the publishes buffered while reconnecting.
	ReconnectBufSize int
	// SubPendingMsgs and SubPendingBytes bound what waits in one
	// subscription's queue for its callback or NextMsg; beyond them
	// messages are dropped and ErrorHandler gets ErrSlowConsumer.
	SubPendingMsgs  int
	SubPendingBytes int

	rootCAs    *x509.CertPool
	serverName string
	insecure   bool
	pin        []byte
	clientCert *tls.Certificate
	dialer     func(ctx context.Context, u *url.URL) (Transport, error)
	will       *wire.Will

	DisconnectHandler func(c *Conn, err error)
	ReconnectHandler  func(c *Conn)
	ErrorHandler      func(c *Conn, s *Subscription, err error)
}

// Option sets a connection option.
type Option func(*Options) error

func defaultOptions() Options {
	return Options{
		ConnectTimeout:   2 * time.Second,
		ReconnectWait:    250 * time.Millisecond,
		MaxReconnectWait: 10 * time.Second,
		MaxReconnects:    60,
		ReconnectBufSize: 8 << 20,
		SubPendingMsgs:   512 << 10,
		SubPendingBytes:  64 << 20,
	}
}

// Name sets the connection's name, shown in the broker's logs and stats.
func Name(name string) Option { return func(o *Options) error { o.Name = name; return nil } }

// Token authenticates with a token.
func Token(token string) Option { return func(o *Options) error { o.Token = token; return nil } }

// UserInfo authenticates with a user name and password.
func UserInfo(user, password string) Option {
	return func(o *Options) error { o.User, o.Password = user, password; return nil }
}

// TLSConfig sets the base TLS configuration for tls://, wss:// and quic://
// URLs; RootCAs, ServerName, InsecureSkipVerify and PinnedCertSHA256 adjust it.
func TLSConfig(c *tls.Config) Option { return func(o *Options) error { o.TLSConfig = c; return nil } }

// Will gives the connection a last will: the broker publishes m (topic,
// data, headers, Retain, TTL) delay after the connection ends, unless it
// ended with Close or Drain. It is sent again with every reconnect, so a
// client that loses its connection and comes back within the delay still
// has its will published for the lost one.
func Will(m *Msg, delay time.Duration) Option {
	return func(o *Options) error {
		if m == nil {
			return errors.New("sdk: nil will")
		}
		if err := badTopic(topics.ValidatePublish(m.Topic)); err != nil {
			return err
		}
		if delay < 0 || delay/time.Millisecond > math.MaxUint32 {
			return fmt.Errorf("sdk: will delay %v out of range", delay)
		}
		hdr, err := encodeHeader(m.Header)
		if err != nil {
			return err
		}
		o.will = &wire.Will{
			Topic: m.Topic, Retain: m.Retain, TTL: wire.TTLMillis(m.TTL), DelayMS: uint32(delay / time.Millisecond),
			Header: hdr, Payload: append([]byte(nil), m.Data...),
		}
		return nil
	}
}

// NoEcho asks the broker not to deliver this connection's own publishes to
// its own subscriptions.
func NoEcho() Option { return func(o *Options) error { o.NoEcho = true; return nil } }

// ConnectTimeout bounds dialing and the handshake with one server.
func ConnectTimeout(d time.Duration) Option {
	return func(o *Options) error {
		if d <= 0 {
			return fmt.Errorf("sdk: connect timeout must be positive, got %v", d)
		}
		o.ConnectTimeout = d
		return nil
	}
}

// ReconnectWait sets the first pause between reconnect attempts; later
// pauses double, with jitter, up to MaxReconnectWait (10s by default).
func ReconnectWait(d time.Duration) Option {
	return func(o *Options) error {
		if d <= 0 {
			return fmt.Errorf("sdk: reconnect wait must be positive, got %v", d)
		}
		o.ReconnectWait = d
		if o.MaxReconnectWait < d {
			o.MaxReconnectWait = d
		}
		return nil
	}
}

// MaxReconnects sets how many reconnect attempts are made: 0 disables
// reconnecting, a negative value retries forever.
func MaxReconnects(n int) Option { return func(o *Options) error { o.MaxReconnects = n; return nil } }

// ReconnectBufSize bounds how many bytes of publishes are kept while
// reconnecting.
func ReconnectBufSize(n int) Option {
	return func(o *Options) error {
		if n < 0 {
			return fmt.Errorf("sdk: reconnect buffer size must not be negative, got %d", n)
		}
		o.ReconnectBufSize = n
		return nil
	}
}

// SubPendingLimits bounds each subscription's queue.
func SubPendingLimits(msgs, bytes int) Option {
	return func(o *Options) error {
		if msgs <= 0 || bytes <= 0 {
			return fmt.Errorf("sdk: pending limits must be positive")
		}
		o.SubPendingMsgs, o.SubPendingBytes = msgs, bytes
		return nil
	}
}

// DisconnectHandler is called when the connection to the server is lost.
func DisconnectHandler(fn func(*Conn, error)) Option {
	return func(o *Options) error { o.DisconnectHandler = fn; return nil }
}

// ReconnectHandler is called after a reconnect, once the broker has
// answered the resubscriptions: a message published by anyone after the
// handler starts reaches them. (A subscription the new broker refused has
// been reported to the ErrorHandler by then.) A connection lost again
// before that answer reports no reconnect, only the next disconnect.
func ReconnectHandler(fn func(*Conn)) Option {
	return func(o *Options) error { o.ReconnectHandler = fn; return nil }
}

// ErrorHandler is called for asynchronous errors: a refused subscription,
// a refused publish, messages dropped by a slow subscription.
func ErrorHandler(fn func(*Conn, *Subscription, error)) Option {
	return func(o *Options) error { o.ErrorHandler = fn; return nil }
}
