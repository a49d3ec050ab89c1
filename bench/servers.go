package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// servers are the two brokers under test, started on loopback ports in a
// temporary directory. A field is empty when its transport is not wanted.
type servers struct {
	dir string
	// msgtrans
	mtTCP, mtWS, mtQUIC string // host:port
	caFile              string // the QUIC certificate, trusted by the SDK
	// nats-server (it has no QUIC)
	natsTCP, natsWS string
	// the two processes, for their CPU time
	mtPID, natsPID int
	// msgtrans through cmd/example-plugin, which the broker launches: the
	// plugin's text-protocol listener, and cmd/msgtrans, whose bench
	// command is the client that speaks it
	pluginText, msgtransBin string

	// three msgtrans nodes over Redis and three routed nats-servers
	cluster *clusterServers

	procs []*exec.Cmd
}

// startServers builds ../cmd/broker and starts it with a listener for each
// wanted transport, and nats-server with its client port (plus a WebSocket
// listener if ws is wanted) unless only msgtrans-only transports are
// wanted. Both get the same 1 GiB slow-consumer limit, so that a burst is
// measured rather than cut off. With plugin wanted it also builds
// ../cmd/example-plugin and ../cmd/msgtrans and configures the broker to
// launch the plugin, its text protocol on a free port and its line limit
// large enough for size-byte payloads; the broker's limits apply to the
// plugin's sessions like to any other. A non-empty pprofAddr has the
// broker serve its monitoring and Go's profiler there, to profile it
// during a run (go tool pprof http://<addr>/debug/pprof/profile).
func startServers(dir string, want map[string]bool, natsBin string, size int, pprofAddr string) (_ *servers, err error) {
	s := &servers{dir: dir}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()

	// One go build for all binaries: with -o a directory, each main
	// package becomes an executable named after its folder.
	pkgs := []string{"./cmd/broker"}
	if want["plugin"] {
		pkgs = append(pkgs, "./cmd/example-plugin", "./cmd/msgtrans")
	}
	build := exec.Command("go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	build.Dir = ".." // the main module
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	brokerBin := filepath.Join(dir, "broker")
	var cfg strings.Builder
	cfg.WriteString("retained:\n  store: memory\nlimits:\n  max_pending: 1GiB\n")
	// MQTT is measured by --mqtt; here it would only hold port 1883.
	cfg.WriteString("mqtt:\n  listen: \"\"\n  ws_path: \"\"\n")
	if pprofAddr != "" {
		fmt.Fprintf(&cfg, "http:\n  listen: %q\n  pprof: true\n", pprofAddr)
	} else {
		cfg.WriteString("http:\n  listen: \"\"\n")
	}
	listen := func(section, addr string) { fmt.Fprintf(&cfg, "%s:\n  listen: %q\n", section, addr) }
	if want["tcp"] {
		s.mtTCP = freeTCPPort()
	}
	listen("tcp", s.mtTCP) // an empty address disables the listener
	if want["ws"] {
		s.mtWS = freeTCPPort()
	}
	listen("ws", s.mtWS)
	cfg.WriteString("  path: /ws\n")
	if want["quic"] {
		s.mtQUIC = freeUDPPort()
		// The broker would generate a certificate in its data directory
		// and log its fingerprint; giving it one we made keeps the client
		// side to an ordinary CA file, with nothing to read from a log.
		certFile, keyFile := filepath.Join(dir, "quic-cert.pem"), filepath.Join(dir, "quic-key.pem")
		if err := writeSelfSigned(certFile, keyFile); err != nil {
			return nil, err
		}
		s.caFile = certFile
		listen("quic", s.mtQUIC)
		fmt.Fprintf(&cfg, "  tls:\n    cert_file: %q\n    key_file: %q\n", certFile, keyFile)
	} else {
		listen("quic", "")
	}
	if want["plugin"] {
		s.pluginText = freeTCPPort()
		s.msgtransBin = filepath.Join(dir, "msgtrans")
		// The plugin refuses lines over max_line (default 65536); msgtrans
		// bench's own bound for its lines is the same formula.
		maxLine := max(65536, size+512+len(benchTopic))
		fmt.Fprintf(&cfg, "plugins:\n  - name: text\n    path: %q\n    settings:\n      listen: %q\n      max_line: %q\n",
			filepath.Join(dir, "example-plugin"), s.pluginText, fmt.Sprint(maxLine))
	}
	cfgFile := filepath.Join(dir, "broker.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		return nil, err
	}
	mt := exec.Command(brokerBin, "--config", cfgFile, "--data-dir", filepath.Join(dir, "data"),
		"--log-level", "warn", "--log-format", "json")
	// quic-go asks for 7 MiB UDP buffers and warns once when the kernel
	// grants less; the throughput measured is what this machine allows.
	mt.Env = append(os.Environ(), "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true")
	mt.Stderr = os.Stderr
	if err := s.start(mt); err != nil {
		return nil, err
	}
	s.mtPID = mt.Process.Pid

	if want["cluster"] {
		if s.cluster, err = startCluster(s, natsBin); err != nil {
			return nil, err
		}
	}
	if !want["tcp"] && !want["ws"] {
		return s, nil // nats-server speaks none of the wanted transports
	}
	if _, err := exec.LookPath(natsBin); err != nil {
		return nil, fmt.Errorf("%s not found (apt-get install nats-server): %w", natsBin, err)
	}
	s.natsTCP = freeTCPPort() // nats-server always has its client port
	natsCfg := fmt.Sprintf("listen: %q\nmax_pending: 1073741824\n", s.natsTCP)
	if want["ws"] {
		// nats-server 2.9 sends everything pending for a WebSocket client
		// as one frame, which a subscriber that falls behind sees grow to
		// megabytes; nats.go refuses frames over 8 x max_payload (64 MiB at
		// most) and drops the connection ("websocket frame too large").
		// 8 MiB, the largest max_payload nats-server accepts without a
		// warning, lifts that bound to 64 MiB; 16-byte messages never
		// come near the payload limit itself.
		natsCfg += "max_payload: 8388608\n"
		s.natsWS = freeTCPPort()
		natsCfg += fmt.Sprintf("websocket {\n  listen: %q\n  no_tls: true\n}\n", s.natsWS)
	}
	natsCfgFile := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(natsCfgFile, []byte(natsCfg), 0o600); err != nil {
		return nil, err
	}
	ns := exec.Command(natsBin, "-c", natsCfgFile) // its log (info level) is left out
	if err := s.start(ns); err != nil {
		return nil, err
	}
	s.natsPID = ns.Process.Pid
	return s, nil
}

func (s *servers) start(c *exec.Cmd) error {
	if err := c.Start(); err != nil {
		return err
	}
	s.procs = append(s.procs, c)
	return nil
}

func (s *servers) stop() {
	// Last started first: the brokers go before the Redis they use.
	for _, c := range slices.Backward(s.procs) {
		c.Process.Kill()
		c.Wait()
	}
	s.procs = nil
}

// writeSelfSigned writes a P-256 certificate for 127.0.0.1 that is its own
// CA, so that trusting the certificate file verifies the server normally.
func writeSelfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "msgtrans bench"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
}

func freeTCPPort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func freeUDPPort() string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// waitTCP dials addr until it accepts a connection: the plugin's listener
// is up only once the broker has launched the plugin.
func waitTCP(addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing accepts connections on %s (see the broker's log above): %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReady dials sys until a connection succeeds: the same check for a
// TCP, WebSocket or QUIC (UDP) listener.
func waitReady(sys system) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := sys.dial()
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s over %s did not come up: %w", sys.name, sys.transport, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
