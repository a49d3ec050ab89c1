package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/sdk"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files, and returns their paths.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// MQTT over WebSocket (path /mqtt, subprotocol mqtt, on the broker's
// WebSocket listener beside the native /ws) and over TLS (mqtt.tls, its
// own port): paho.mqtt.golang over ws://, mosquitto_sub over TLS, and a
// native client meet on the same topics.
func TestMQTTOverWebSocketAndTLS(t *testing.T) {
	certFile, keyFile := writeCert(t)
	tlsAddr := testproc.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "broker.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("mqtt:\n  tls:\n    listen: %s\n    cert_file: %s\n    key_file: %s\n", tlsAddr, certFile, keyFile)), 0o600)
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", cfg)
	mqttAddr(t, p)
	wsAddr := p.waitLog(t, "listening for ws://")["addr"].(string)
	native, err := sdk.Connect(listenURL(t, p), sdk.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer native.Close()

	got := make(chan paho3.Message, 10)
	o := paho3.NewClientOptions().AddBroker("ws://" + wsAddr + "/mqtt").SetClientID("wsclient").SetAutoReconnect(false).
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) { got <- m })
	c := paho3.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT over WebSocket: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Subscribe("ws/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if err := native.Publish("ws.in", []byte("to websocket")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Topic() != "ws/in" || string(m.Payload()) != "to websocket" {
			t.Fatalf("%s %q", m.Topic(), m.Payload())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing over WebSocket")
	}

	// TLS: mosquitto_sub trusting the certificate receives what the
	// WebSocket client publishes.
	sub := testproc.Need(t, "mosquitto_sub")
	host, port, _ := strings.Cut(tlsAddr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	receiveWhilePublishing(t, "over tls\n<nil>",
		func() (string, error) {
			b, err := exec.CommandContext(ctx, sub, "-h", host, "-p", port, "--cafile", certFile, "-t", "tls/x", "-C", "1", "-W", "15").CombinedOutput()
			return string(b), err
		},
		func() (string, error) {
			tok := c.Publish("tls/x", 0, false, "over tls")
			tok.WaitTimeout(5 * time.Second)
			return "", tok.Error()
		})
}

var _ = tls.VersionTLS12
