package auth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/msgtrans/msgtrans/broker"
)

func hash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func info(proto, addr string) broker.SessionInfo {
	return broker.SessionInfo{Peer: broker.Peer{Protocol: proto, RemoteAddr: addr}}
}

func TestAuthenticate(t *testing.T) {
	cfg := Config{
		Token: "tok",
		Users: []User{
			{User: "alice", Password: hash(t, "wonder"), Permissions: &Permissions{Publish: Rules{Allow: []string{"alice.>"}}}},
			{User: "bob", Password: "plain"},
			{User: "certonly"},
		},
		DefaultPermissions: &Permissions{Publish: Rules{Allow: []string{"public.>"}}},
	}
	if got := PlainTextUsers(cfg); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("PlainTextUsers = %v", got)
	}
	a, err := New(cfg, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok := []struct {
		cred     broker.Credentials
		user     string
		mayTopic string
	}{
		{broker.Credentials{User: "alice", Password: "wonder"}, "alice", "alice.x"},
		{broker.Credentials{User: "bob", Password: "plain"}, "bob", "public.x"}, // no own permissions: the defaults
		{broker.Credentials{Token: "tok"}, "", "public.x"},
		{broker.Credentials{Token: "tok", User: "alice", Password: "wonder"}, "alice", "alice.x"}, // both right: the user's
	}
	for i, c := range ok {
		p, err := a.Authenticate(info("tcp", "10.0.0.1:1"), c.cred)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if p.User != c.user || !p.Permissions.MayPublish([]byte(c.mayTopic)) || p.Permissions.MayPublish([]byte("other")) {
			t.Errorf("%d: principal %q with the wrong permissions", i, p.User)
		}
	}
	for i, c := range []broker.Credentials{
		{User: "alice", Password: "wrong"},
		{User: "alice", Password: "$2a$..."},
		{User: "bob", Password: "plainx"},
		{User: "nobody", Password: "x"},
		{User: "certonly", Password: ""},
		{Token: "bad"},
		{},
		// A wrong credential is refused even next to a right one.
		{Token: "bad", User: "alice", Password: "wonder"},
		{Token: "tok", User: "alice", Password: "wrong"},
		{Token: "tok", User: "claimed"}, // a name without its password
	} {
		// Distinct addresses: this is not about the throttle.
		if _, err := a.Authenticate(info("tcp", "10.0.1."+itoa(i)+":1"), c); !errors.Is(err, broker.ErrAuth) {
			t.Errorf("%+v: %v, want ErrAuth", c, err)
		}
	}
}

func TestOpenBrokerGivesDefaultPermissions(t *testing.T) {
	a, err := New(Config{DefaultPermissions: &Permissions{Subscribe: Rules{Deny: []string{"$SYS.>"}}}}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(info("ws", "127.0.0.1:5"), broker.Credentials{User: "me"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := p.Permissions.MaySubscribe("$SYS.>", ""); ok || p.User != "me" {
		t.Fatalf("anonymous client %q may subscribe to $SYS.>", p.User)
	}
}

func certWith(cn string, dns []string, email []string, uri string) *x509.Certificate {
	c := &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"acme"}}, DNSNames: dns, EmailAddresses: email}
	if uri != "" {
		u, _ := url.Parse(uri)
		c.URIs = []*url.URL{u}
	}
	return c
}

func TestCertificateIdentity(t *testing.T) {
	cfg := Config{Users: []User{
		{User: "svc.example.com"},
		{User: "ops@example.com", Password: "x"},
		{User: "CN=device-7,O=acme"},
		{User: "plaincn"},
	}}
	a, err := New(cfg, Options{MapIdentity: []string{"tls", "quic"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	peer := func(proto string, c *x509.Certificate) broker.SessionInfo {
		return broker.SessionInfo{Peer: broker.Peer{Protocol: proto, RemoteAddr: "10.1.0.1:1",
			TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}}}
	}
	for c, want := range map[*x509.Certificate]string{
		certWith("ignored", []string{"svc.example.com"}, nil, ""):         "svc.example.com",
		certWith("x", []string{"other"}, []string{"ops@example.com"}, ""): "ops@example.com",
		certWith("device-7", nil, nil, ""):                                "CN=device-7,O=acme",
		certWith("plaincn", nil, nil, "spiffe://example.com/nobody"):      "plaincn",
	} {
		p, err := a.Authenticate(peer("quic", c), broker.Credentials{})
		if err != nil || p.User != want {
			t.Errorf("certificate %v: user %q, %v; want %q", CertNames(c), p.User, err, want)
		}
	}
	if _, err := a.Authenticate(peer("tls", certWith("stranger", nil, nil, "")), broker.Credentials{}); !errors.Is(err, broker.ErrAuth) {
		t.Errorf("unknown certificate identity: %v", err)
	}
	if _, err := a.Authenticate(peer("tls", certWith("plaincn", nil, nil, "")), broker.Credentials{User: "ops@example.com", Password: "x"}); !errors.Is(err, broker.ErrAuth) {
		t.Errorf("a certificate for one user with the credentials of another: %v", err)
	}
	// A listener without map_identity ignores the certificate: credentials count.
	if _, err := a.Authenticate(peer("wss", certWith("plaincn", nil, nil, "")), broker.Credentials{}); !errors.Is(err, broker.ErrAuth) {
		t.Errorf("certificate mapped on a listener without map_identity: %v", err)
	}
}

func TestLiveReload(t *testing.T) {
	old, _ := New(Config{Token: "t1", Users: []User{
		{User: "alice", Password: "a"}, {User: "bob", Password: "b"},
	}}, Options{}, nil)
	live := NewLive(old)
	login := func(c broker.Credentials) broker.Principal {
		p, err := live.Authenticate(info("tcp", "10.2.0.1:1"), c)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	alice := login(broker.Credentials{User: "alice", Password: "a"})
	bob := login(broker.Credentials{User: "bob", Password: "b"})
	tok := login(broker.Credentials{Token: "t1"})
	if !alice.Permissions.MayPublish([]byte("x")) {
		t.Fatal("alice may not publish before the reload")
	}

	next, _ := New(Config{Token: "t2", Users: []User{
		{User: "alice", Password: "changed", Permissions: &Permissions{Publish: Rules{Deny: []string{">"}}}},
	}}, Options{}, old)
	if next.Throttle() != old.Throttle() {
		t.Error("the reload forgot the failed-login throttle")
	}
	live.Swap(next)
	// The principal given before the reload follows the new rules at once.
	if alice.Permissions.MayPublish([]byte("x")) {
		t.Error("alice's old principal ignores the new permissions")
	}
	if p, err := live.Reauthorize(broker.SessionInfo{}, alice); err != nil || p.User != "alice" {
		t.Errorf("alice after reload: %q %v", p.User, err)
	}
	if _, err := live.Reauthorize(broker.SessionInfo{}, bob); !errors.Is(err, ErrRevoked) {
		t.Errorf("removed user kept: %v", err)
	}
	if bob.Permissions.MayPublish([]byte("x")) {
		t.Error("a removed user may still publish until closed")
	}
	if _, err := live.Reauthorize(broker.SessionInfo{}, tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("session of a changed token kept: %v", err)
	}
}

// A burst of concurrent first attempts from one address (a storm of
// guessers starting together) gets only the free checks at once: the
// attempts still being checked count as failures until they are known,
// so the rest are spaced out or refused without a password check.
func TestThrottleBurstOfFirstAttempts(t *testing.T) {
	th := NewThrottle(ThrottleOptions{Free: 3, Delay: 50 * time.Millisecond, MaxDelay: 200 * time.Millisecond, MaxWait: 300 * time.Millisecond})
	release := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	immediate, refused := 0, 0
	for range 16 {
		wg.Go(func() {
			start := time.Now()
			done, err := th.Wait("storm")
			mu.Lock()
			switch {
			case errors.Is(err, ErrThrottled):
				refused++
			case time.Since(start) < 20*time.Millisecond:
				immediate++
			}
			mu.Unlock()
			if err == nil {
				<-release // the password check takes a while (bcrypt)
				done(false)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	close(release)
	wg.Wait()
	if immediate > 4 || refused == 0 {
		t.Fatalf("16 concurrent first attempts: %d checked at once, %d refused; want at most the 3 free (and one slot) at once, and some refused", immediate, refused)
	}
	// Nothing is left pending: a success afterwards clears the address.
	done, err := th.Wait("other")
	if err != nil {
		t.Fatal(err)
	}
	done(true)
	th.mu.Lock()
	defer th.mu.Unlock()
	if st := th.addrs["storm"]; st == nil || st.pending != 0 || st.fails == 0 {
		t.Fatalf("storm's record after the burst: %+v", st)
	}
	if _, ok := th.addrs["other"]; ok {
		t.Fatal("a success left its record")
	}
}

func TestThrottleSlowsRepeatedFailures(t *testing.T) {
	th := NewThrottle(ThrottleOptions{Free: 2, Delay: 40 * time.Millisecond, MaxDelay: 80 * time.Millisecond, MaxWait: 150 * time.Millisecond})
	fail := func(addr string) (time.Duration, error) {
		start := time.Now()
		done, err := th.Wait(addr)
		if err == nil {
			done(false)
		}
		return time.Since(start), err
	}
	for range 2 {
		if d, err := fail("a"); err != nil || d > 20*time.Millisecond {
			t.Fatalf("a free failure waited %v, %v", d, err)
		}
	}
	// Past the free failures, attempts run one at a time, spaced out: a
	// burst of parallel attempts is partly delayed and partly refused.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused, waited int
	for range 8 {
		wg.Go(func() {
			d, err := fail("a")
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ErrThrottled) {
				refused++
			} else if d >= 30*time.Millisecond {
				waited++
			}
		})
	}
	wg.Wait()
	if refused == 0 || waited == 0 {
		t.Fatalf("burst: %d refused, %d delayed; want some of each", refused, waited)
	}
	// Another address is not affected.
	if d, err := fail("b"); err != nil || d > 20*time.Millisecond {
		t.Fatalf("another address waited %v, %v", d, err)
	}
	// A success clears the record.
	time.Sleep(200 * time.Millisecond)
	done, err := th.Wait("a")
	if err != nil {
		t.Fatal(err)
	}
	done(true)
	if d, err := fail("a"); err != nil || d > 20*time.Millisecond {
		t.Fatalf("after a success, a failure waited %v, %v", d, err)
	}
	if th.Failures() < 3 || th.Refused() != uint64(refused) {
		t.Fatalf("counted %d failures, %d refused", th.Failures(), th.Refused())
	}
}
