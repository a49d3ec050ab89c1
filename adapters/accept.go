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

// ListenTCP binds addr for a stream adapter, with TCP keep-alive period
// keepAlive (0: Go's default, negative: off), and TLS when tlsConf is set.
func ListenTCP(ctx context.Context, addr string, keepAlive time.Duration, tlsConf *tls.Config) (net.Listener, error) {
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
