package sdk_test

import (
	"bytes"
	"crypto/tls"
	"sync"
	"testing"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/adapters/quic"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/adapters/ws"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
)

// certAuth records, per protocol, the client certificate each session's
// peer presented.
type certAuth struct {
	mu   sync.Mutex
	seen map[string][]byte
}

func (a *certAuth) Authenticate(info broker.SessionInfo, _ broker.Credentials) (broker.Principal, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if info.TLS != nil && len(info.TLS.PeerCertificates) > 0 {
		a.seen[info.Protocol] = info.TLS.PeerCertificates[0].Raw
	}
	return broker.Principal{}, nil
}

// The authenticator sees the client certificate on every TLS transport, so
// that a certificate can be an identity.
func TestAuthenticatorSeesClientCertificate(t *testing.T) {
	srvCert, pool := selfSigned(t)
	clientCert, _ := selfSigned(t)
	conf := &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAnyClientCert}
	auth := &certAuth{seen: map[string][]byte{}}
	srv := adapterstest.Start(t, adapterstest.Config{
		Broker: broker.Options{Authenticator: auth},
		TCP:    tcp.Options{TLS: conf}, WS: ws.Options{TLS: conf}, QUIC: quic.Options{TLS: conf},
	})
	for _, url := range []string{srv.URL, srv.WSURL, srv.QUICURL} {
		c := connect(t, url, sdk.TLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}))
		c.Close()
	}
	auth.mu.Lock() // the broker's goroutines wrote it
	defer auth.mu.Unlock()
	for _, proto := range []string{"tls", "wss", "quic"} {
		if got := auth.seen[proto]; !bytes.Equal(got, clientCert.Certificate[0]) {
			t.Errorf("%s: the authenticator did not see the client certificate", proto)
		}
	}
}
