package adapters

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/broker"
)

// Listener is what every transport adapter, and a plugin runner, provides
// to whoever runs it: Listen binds, so that a bad address fails before
// anything serves, and Serve runs until ctx is cancelled and returns once
// all its goroutines have ended.
type Listener interface {
	Listen(ctx context.Context) error
	Serve(ctx context.Context) error
}

// DefaultTCPKeepAlive is the TCP keep-alive period of a stream adapter
// whose option is 0. It is Go's own default, named so that the service's
// configuration can say what it gets.
const DefaultTCPKeepAlive = 15 * time.Second

// ListenTCP binds addr for a stream adapter, with TCP keep-alive period
// keepAlive (0: DefaultTCPKeepAlive, negative: off), and TLS when tlsConf
// is set.
func ListenTCP(ctx context.Context, addr string, keepAlive time.Duration, tlsConf *tls.Config) (net.Listener, error) {
	if keepAlive == 0 {
		keepAlive = DefaultTCPKeepAlive
	}
	lc := net.ListenConfig{KeepAlive: keepAlive}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	return ln, nil
}

// AcceptLoop accepts connections from ln and runs handle for each on its own
// goroutine, until ctx is cancelled (it then closes ln). Temporary accept
// failures, such as running out of file descriptors, are logged and retried
// with a growing pause. It returns once every handle call has returned;
// handle must return when ctx is cancelled.
func AcceptLoop(ctx context.Context, ln net.Listener, log zerolog.Logger, handle func(net.Conn)) {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn().Err(err).Dur("retry_in", backoff).Msg("accept failed")
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return
			}
		}
		backoff = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			handle(c)
		}()
	}
}

// Peer describes c for the broker: protocol, remote address and, for a TLS
// connection whose handshake is done, its TLS state.
func Peer(protocol string, c net.Conn) broker.Peer {
	p := broker.Peer{Protocol: protocol, RemoteAddr: c.RemoteAddr().String()}
	if tc, ok := c.(*tls.Conn); ok {
		if st := tc.ConnectionState(); st.HandshakeComplete {
			p.TLS = &st
		}
	}
	return p
}
