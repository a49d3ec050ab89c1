package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/internal/certs"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// Protocol is MQTT 3.1.1 and 5.0, a plugin.Plugin. The zero value serves
// the settings' TCP listener; Conns, if set, also hands it connections
// accepted elsewhere (MQTT over WebSocket on the broker's listener).
type Protocol struct {
	// Conns carries byte streams, already accepted, that speak MQTT: the
	// protocol serves each as it serves a TCP client, until Serve ends.
	Conns <-chan net.Conn
	// TLS, if set, is the TLS listener's configuration (the broker's:
	// certificates and client CAs it reloads, see internal/certs), in place
	// of the files the settings name. The settings' tls_listen still says
	// whether there is such a listener.
	TLS *tls.Config
}

// server is one running Protocol: its sessions by client identifier.
type server struct {
	h   *plugin.Host
	cfg config
	tls *tls.Config // the TLS listener's, from Protocol.TLS; nil: from cfg's files
	log *slog.Logger
	ctx context.Context

	mu         sync.Mutex
	sessions   map[string]*session
	connecting map[string]chan struct{} // client identifiers being connected (lockID)
	store      *store                   // nil: sessions are kept in memory only

	// qosHeader[q] is the header of a 3.1.1 publish at QoS q: shared, read
	// only, so that the publish path builds none.
	qosHeader [3]sdk.Header

	wg         sync.WaitGroup // one per client connection and session timer
	dropped    atomic.Uint64  // QoS 1/2 messages dropped from full session queues
	tooLarge   atomic.Uint64  // messages over a client's Maximum Packet Size, not sent
	unmappable atomic.Uint64  // native messages without an MQTT topic, not delivered
}

// Serve implements plugin.Plugin.
func (p Protocol) Serve(ctx context.Context, h *plugin.Host) error {
	cfg, err := readConfig(h)
	if err != nil {
		return err
	}
	s := &server{h: h, cfg: cfg, tls: p.TLS, log: h.Logger(), ctx: ctx, sessions: map[string]*session{}, connecting: map[string]chan struct{}{}}
	s.qosHeader[1] = sdk.Header{HeaderQoS: {"1"}}
	s.qosHeader[2] = sdk.Header{HeaderQoS: {"2"}}
	if cfg.dataDir != "" {
		if s.store, err = openStore(cfg.dataDir); err != nil {
			return err
		}
		defer s.store.close()
		if err := s.restore(); err != nil {
			return err
		}
	}
	lns, err := s.listen(ctx)
	if err != nil {
		return err
	}
	var status []string
	for _, ln := range lns {
		status = append(status, ln.Addr().String())
		h.Logger().Info("mqtt listening", "addr", ln.Addr().String(), "tls", ln != lns[0] || cfg.listen == "")
	}
	if len(lns) == 0 {
		h.Ready("no listener of its own")
	} else {
		h.Ready("listening on " + strings.Join(status, " "))
	}
	defer s.shutdown()
	if p.Conns != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				select {
				case c, ok := <-p.Conns:
					if !ok {
						return
					}
					s.serveConn(c)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.accept(ctx, ln)
		}()
	}
	stop := context.AfterFunc(ctx, func() {
		for _, ln := range lns {
			ln.Close()
		}
	})
	defer stop()
	wg.Wait()
	<-ctx.Done()
	return nil
}

// listen opens the TCP listener and the TLS one, as configured.
func (s *server) listen(ctx context.Context) ([]net.Listener, error) {
	var lns []net.Listener
	var lc net.ListenConfig
	fail := func(err error) ([]net.Listener, error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	if s.cfg.listen != "" {
		ln, err := lc.Listen(ctx, "tcp", s.cfg.listen)
		if err != nil {
			return fail(err)
		}
		lns = append(lns, ln)
	}
	if s.cfg.tlsListen != "" {
		conf := s.tls
		if conf == nil {
			// A plugin process: the files of its settings, loaded once.
			files := certs.Files{CertFile: s.cfg.tlsCert, KeyFile: s.cfg.tlsKey, ClientCAFile: s.cfg.tlsClientCA, Verify: s.cfg.tlsVerify}
			cs, err := certs.Load(files, nil)
			if err != nil {
				return fail(fmt.Errorf("mqtt tls: %w", err))
			}
			conf = cs.Config()
		}
		ln, err := lc.Listen(ctx, "tcp", s.cfg.tlsListen)
		if err != nil {
			return fail(err)
		}
		lns = append(lns, tls.NewListener(ln, conf))
	}
	return lns, nil
}

// accept serves ln's clients until it is closed.
func (s *server) accept(ctx context.Context, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", "err", err)
			time.Sleep(10 * time.Millisecond) // out of file descriptors, say: do not spin
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		s.serveConn(c)
	}
}

// serveConn serves one client connection on a goroutine of its own.
func (s *server) serveConn(c net.Conn) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		serveClient(s, c)
	}()
}

// shutdown ends every connection (5.0 clients are told the server is
// shutting down) and waits for them. Sessions kept on disk stay there.
func (s *server) shutdown() {
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.end(endShutdown)
	}
	s.wg.Wait()
}
