package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/msgtrans/msgtrans/internal/testproc"
)

// aclRules are the least a node's Redis user needs, as docs/cluster.md
// lists them: its keys and channels under the prefix, and the command
// groups the backplane and the retained store use.
var aclRules = []string{"resetchannels", "&msgtrans:*", "~msgtrans:*", "+@pubsub", "+@hash", "+@sortedset",
	"+@string", "+@scripting", "+@transaction", "+@connection", "+del", "+pexpire", "+time"}

// Two nodes over rediss:// with a user and password in the URL, the user
// limited to aclRules.
func TestTLSAndACLUser(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, cert, key)
	addr := testproc.FreePort(t)
	_, port, _ := net.SplitHostPort(addr)
	args := []string{"--port", "0", "--tls-port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
		"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert, "--tls-auth-clients", "no"}
	user := append([]string{"--user", "node", "on", ">s3cret"}, aclRules...)
	args = append(append(args, user...), "--user", "default", "off")
	p := testproc.Start(t, testproc.Need(t, "redis-server"), args...)
	p.WaitTCP(addr, 10*time.Second)

	open := func(url string) *redis.Client {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		opt.MaxRetries = -1
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		return c
	}
	// skip_verify: the certificate is self-made; what is tested is TLS and
	// the user's rights, not the certificate chain.
	url := "rediss://node:s3cret@" + addr + "/0?skip_verify=true"
	if err := open("rediss://node:wrong@" + addr + "/0?skip_verify=true").Ping(t.Context()).Err(); err == nil {
		t.Fatal("a wrong password was accepted: the test's Redis does not check users")
	}
	a := startNodeOn(t, open(url), "a", Options{})
	b := startNodeOn(t, open(url), "b", Options{})
	got := &collector{}
	client(t, b.b, "sub").Subscribe("x.>", got.cb)
	waitFor(t, "a to learn b's interest", func() bool { return a.bp.peers.interestOf("b") == 1 })
	client(t, a.b, "pub").Publish("x.y", []byte("over tls"))
	waitFor(t, "the message", func() bool { return got.len() == 1 })
	// The retained store works with the same user.
	s := NewStore(open(url), "", 0, 0, time.Second)
	if err := set(t, s, "r.1", "v", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := matchTopics(t, s, "r.*"); len(got) != 1 || s.Len() != 1 {
		t.Fatalf("retained over tls: %v", got)
	}
}

func writeCert(t *testing.T, certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redis test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
}
