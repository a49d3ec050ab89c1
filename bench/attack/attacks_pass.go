package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	gws "github.com/gobwas/ws"
	quicgo "github.com/quic-go/quic-go"

	"github.com/msgtrans/msgtrans/wire"
)

// The attacks the issue found already repelled, kept so that they stay so.

// noHello: connections that never send anything, reconnecting when the
// broker's handshake timeout closes them.
func noHello(ctx context.Context, e *env) string {
	fleet(ctx, e.conns, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, nil)
			if err != nil {
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			rc.waitClosed(ctx)
			rc.Close()
		}
	})
	return fmt.Sprintf("%d at once, %d connections, %d closed by the broker:%s",
		e.conns, e.cnt.conns.Load(), e.cnt.closed.Load(), e.cnt.codeSummary())
}

// slowloris: connections that send a valid HELLO one byte every 500 ms,
// so that it would take longer than the handshake timeout to arrive.
func slowloris(ctx context.Context, e *env) string {
	hello := wire.AppendHello(nil, &wire.Hello{Name: "slowloris-with-a-long-name"})
	fleet(ctx, e.conns/2, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, nil)
			if err != nil {
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			closed := make(chan bool, 1)
			go func() { closed <- rc.waitClosed(ctx) }()
		trickle:
			for _, c := range hello {
				select {
				case <-closed:
					break trickle
				case <-time.After(500 * time.Millisecond):
				}
				if _, err := rc.Write([]byte{c}); err != nil {
					break
				}
			}
			rc.Close()
		}
	})
	return fmt.Sprintf("%d at once, %d connections, %d closed by the broker:%s",
		e.conns/2, e.cnt.conns.Load(), e.cnt.closed.Load(), e.cnt.codeSummary())
}

// garbage returns n bytes of random data.
func garbage(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// garbageTCP: connections that send 64 KiB of random bytes, before and
// after a valid HELLO, and wait to be closed.
func garbageTCP(ctx context.Context, e *env) string {
	fleet(ctx, 16, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			var hello *wire.Hello
			if i%2 == 1 {
				hello = &wire.Hello{Name: "garbage"}
			}
			rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, hello)
			if err != nil {
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			rc.Write(garbage(64 << 10))
			e.cnt.sent.Add(1)
			rc.waitClosed(ctx)
			rc.Close()
		}
	})
	return fmt.Sprintf("%d x 64 KiB of random bytes (half after HELLO), %d closed by the broker:%s",
		e.cnt.sent.Load(), e.cnt.closed.Load(), e.cnt.codeSummary())
}

// dialWS opens a WebSocket with the native subprotocol.
func dialWS(ctx context.Context, e *env) (net.Conn, error) {
	d := gws.Dialer{Protocols: []string{wire.Subprotocol}, Timeout: 5 * time.Second}
	c, br, _, err := d.Dial(ctx, "ws://"+e.b.ws+"/ws")
	if err != nil {
		return nil, err
	}
	if br != nil {
		gws.PutReader(br)
	}
	e.cnt.conns.Add(1)
	return c, nil
}

// writeWS writes one masked client frame.
func writeWS(c net.Conn, op gws.OpCode, fin bool, p []byte) error {
	f := gws.NewFrame(op, fin, p)
	return gws.WriteFrame(c, gws.MaskFrameInPlace(f))
}

// waitEOF reads and discards until c ends or ctx does, reporting whether
// the peer ended it.
func waitEOF(ctx context.Context, c net.Conn) bool {
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				close(done)
				return
			}
		}
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		c.Close()
		<-done
		return false
	}
}

// garbageWS: random bytes where the HTTP upgrade should be, random WebSocket
// frames, and random bytes inside well-formed binary messages.
func garbageWS(ctx context.Context, e *env) string {
	fleet(ctx, 12, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			var c net.Conn
			var err error
			switch i % 3 {
			case 0: // no upgrade at all
				var d net.Dialer
				if c, err = d.DialContext(ctx, "tcp", e.b.ws); err == nil {
					e.cnt.conns.Add(1)
					_, err = c.Write(garbage(16 << 10))
				}
			case 1: // upgraded, then bytes that are not frames
				if c, err = dialWS(ctx, e); err == nil {
					_, err = c.Write(garbage(16 << 10))
				}
			case 2: // upgraded, well-formed messages of random content
				if c, err = dialWS(ctx, e); err == nil {
					for range 4 {
						if err = writeWS(c, gws.OpBinary, true, garbage(4096)); err != nil {
							break
						}
					}
				}
			}
			if c == nil {
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			e.cnt.sent.Add(1)
			if waitEOF(ctx, c) {
				e.cnt.closed.Add(1)
			}
			c.Close()
		}
	})
	return fmt.Sprintf("%d garbage connections (raw, bad frames, bad messages), %d closed by the broker",
		e.cnt.sent.Load(), e.cnt.closed.Load())
}

// hugeFragments: WebSocket clients that say HELLO, then start a binary
// message and send 64 KiB continuation frames without end.
func hugeFragments(ctx context.Context, e *env) string {
	fleet(ctx, 8, func(ctx context.Context, i int) {
		chunk := garbage(64 << 10)
		for ctx.Err() == nil {
			c, err := dialWS(ctx, e)
			if err != nil {
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			ended := make(chan bool, 1)
			go func() { ended <- waitEOF(ctx, c) }()
			err = writeWS(c, gws.OpBinary, true, wire.AppendHello(nil, &wire.Hello{Name: "fragments"}))
			op := gws.OpBinary
			for err == nil && ctx.Err() == nil {
				c.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if err = writeWS(c, op, false, chunk); err == nil {
					e.cnt.sent.Add(int64(len(chunk)))
				}
				op = gws.OpContinuation
			}
			// A write fails once the broker has closed; a write that
			// timed out is ours to close, and not counted as the broker's.
			select {
			case byBroker := <-ended:
				if byBroker && ctx.Err() == nil {
					e.cnt.closed.Add(1)
				}
				c.Close()
			case <-time.After(time.Second):
				c.Close()
				<-ended
			}
		}
	})
	return fmt.Sprintf("%d MiB sent in unfinished messages, %d connections, %d closed by the broker",
		e.cnt.sent.Load()>>20, e.cnt.conns.Load(), e.cnt.closed.Load())
}

// garbageQUIC: random UDP datagrams at the QUIC port, and QUIC connections
// whose stream carries random bytes.
func garbageQUIC(ctx context.Context, e *env) string {
	var datagrams atomic.Int64
	go func() {
		c, err := net.Dial("udp", e.b.quic)
		if err != nil {
			return
		}
		defer c.Close()
		next := pace(2000)
		for next(ctx) {
			c.Write(garbage(1200))
			datagrams.Add(1)
		}
	}()
	tlsConf := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{wire.ALPN}, MinVersion: tls.VersionTLS13}
	fleet(ctx, 8, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			conn, err := quicgo.DialAddr(ctx, e.b.quic, tlsConf, &quicgo.Config{HandshakeIdleTimeout: 5 * time.Second})
			if err != nil {
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			e.cnt.conns.Add(1)
			stop := context.AfterFunc(ctx, func() { conn.CloseWithError(0, "") })
			if s, err := conn.OpenStreamSync(ctx); err == nil {
				if i%2 == 1 {
					s.Write(wire.AppendHello(nil, &wire.Hello{Name: "quic-garbage"}))
				}
				s.Write(garbage(16 << 10))
				e.cnt.sent.Add(1)
				buf := make([]byte, 4096)
				for {
					if _, err := s.Read(buf); err != nil {
						break
					}
				}
				if ctx.Err() == nil {
					e.cnt.closed.Add(1)
				}
			}
			stop()
			conn.CloseWithError(0, "")
		}
	})
	return fmt.Sprintf("~%d random datagrams; %d QUIC connections sent 16 KiB of random bytes, %d closed by the broker",
		datagrams.Load(), e.cnt.sent.Load(), e.cnt.closed.Load())
}
