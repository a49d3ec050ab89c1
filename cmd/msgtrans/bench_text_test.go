package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/plugins"
)

// pluginBin is the example plugin, built once for the text:// tests.
var pluginBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "msgtrans-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginBin = filepath.Join(dir, "example-plugin")
	if out, err := exec.Command("go", "build", "-o", pluginBin, "../example-plugin").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the example plugin: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// textEnv is a broker with the example plugin launched by it.
type textEnv struct {
	srv    *adapterstest.Server
	runner *plugins.Runner
	url    string // text://127.0.0.1:port

	mu     sync.Mutex
	opened map[string]int // sessions opened, by protocol
}

func (e *textEnv) sessionsOpened(protocol string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.opened[protocol]
}

// startText starts a broker and the example plugin (as the broker's
// plugin named "text"), and returns when the plugin listens.
func startText(t *testing.T) *textEnv {
	t.Helper()
	te := &textEnv{opened: map[string]int{}}
	te.srv = adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{
		OnEvent: func(ev broker.Event) {
			if ev.Kind == broker.SessionOpened {
				te.mu.Lock()
				te.opened[ev.Session.Protocol]++
				te.mu.Unlock()
			}
		},
	}})
	eng, err := adapters.NewEngine(te.srv.B, adapters.Options{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	var logMu sync.Mutex
	r, err := plugins.New(plugins.Config{Name: "text", Path: pluginBin, Settings: map[string]string{"listen": "127.0.0.1:0"}},
		eng, plugins.Options{Logger: zerolog.New(lockedWriter{&logMu, logs})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Listen(ctx); err != nil {
		cancel()
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("starting the plugin: %v\nlog:\n%s", err, logs)
	}
	done := make(chan struct{})
	go func() { r.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	addr, ok := strings.CutPrefix(r.Status(), "listening on ")
	if !ok {
		t.Fatalf("plugin status %q", r.Status())
	}
	te.runner, te.url = r, "text://"+addr
	return te
}

func TestBenchText(t *testing.T) {
	te := startText(t)
	n := strconv.Itoa(benchMsgs)
	for _, c := range []struct {
		name       string
		args       []string
		pubs, subs int
	}{
		{"pub", []string{"--scenario", "pub"}, 1, 0},
		{"pubsub", []string{"--scenario", "pubsub"}, 1, 1},
		{"fanout", []string{"--scenario", "fanout", "--subs", "3"}, 1, 3},
		{"nm", []string{"--scenario", "nm", "--pubs", "2", "--subs", "2"}, 2, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := te.sessionsOpened("text")
			res := runBench(t, append(c.args, "--server", te.url, "--msgs", n)...)
			if res.Scenario != c.name || res.Size != 16 || res.Server != te.url {
				t.Errorf("scenario %q size %d server %q", res.Scenario, res.Size, res.Server)
			}
			checkCounts(t, res, "text", c.pubs, c.subs)
			// Every client was a session of the plugin.
			if got := te.sessionsOpened("text") - before; got != c.pubs+c.subs {
				t.Errorf("%d plugin sessions opened, want %d", got, c.pubs+c.subs)
			}
		})
	}
	if n := te.sessionsOpened("tcp"); n != 0 {
		t.Errorf("%d native sessions opened, want none", n)
	}
}

// The text clients and native ones see the same traffic: a native
// publisher feeds a text subscriber.
func TestBenchTextSubOnlyFedByNativePub(t *testing.T) {
	te := startText(t)
	n := strconv.Itoa(benchMsgs)
	wait, _ := runAsync(t, "bench", "--json", "--scenario", "sub-only", "--server", te.url, "--msgs", n, "--topic", "feed.x")
	waitSubs(t, te.srv, 1)
	checkCounts(t, runBench(t, "--scenario", "pub", "--server", te.srv.URL, "--msgs", n, "--topic", "feed.x"), "tcp", 1, 0)
	r := wait()
	mustOK(t, r, "sub-only over text")
	res := decodeBench(t, r)
	if res.Transport != "text" || res.Sub == nil || res.Sub.Msgs != benchMsgs || res.Sub.Lost != 0 || res.Sub.Bytes != benchMsgs*16 {
		t.Errorf("sub-only result %+v, receive side %+v", res, res.Sub)
	}
}

func TestBenchTextRequest(t *testing.T) {
	te := startText(t)
	res := runBench(t, "--scenario", "req", "--server", te.url, "--msgs", "300", "--clients", "2", "--responders", "2", "--size", "64")
	if res.Transport != "text" || res.Pub == nil || res.Pub.Msgs != 600 || res.Latency == nil || res.Latency.Count != 600 {
		t.Fatalf("req result %+v pub %+v latency %+v, want 600 requests", res, res.Pub, res.Latency)
	}
	l := res.Latency
	if !(l.Min > 0 && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Mean > 0) {
		t.Errorf("latency percentiles out of order: %+v", l)
	}
	if res.Publishers != 2 || res.Subscribers != 2 || res.Size != 64 {
		t.Errorf("req result %+v", res)
	}
	if got := te.sessionsOpened("text"); got != 4 {
		t.Errorf("%d plugin sessions opened, want 4", got)
	}
}

func TestBenchTextIdle(t *testing.T) {
	te := startText(t)
	pid := te.runner.PID()
	if pid <= 0 {
		t.Fatalf("plugin pid %d", pid)
	}
	res := runBench(t, "--scenario", "idle", "--server", te.url, "--conns", "20", "--hold", "10ms",
		"--broker-pid", strconv.Itoa(os.Getpid()), "--plugin-pid", strconv.Itoa(pid))
	st := res.Idle
	if res.Transport != "text" || st == nil || st.Conns != 20 || st.BrokerRSSAfter == 0 ||
		st.PluginPID != pid || st.PluginRSSBefore == 0 || st.PluginRSSAfter == 0 {
		t.Fatalf("idle result %+v", st)
	}
	// Each connection had its session open before the measurement.
	if got := te.sessionsOpened("text"); got != 20 {
		t.Errorf("%d plugin sessions opened, want 20", got)
	}
	r := runCLI(t, "bench", "--scenario", "idle", "--server", te.url, "--conns", "3", "--hold", "0s", "--plugin-pid", strconv.Itoa(pid))
	mustOK(t, r, "idle table")
	if !strings.Contains(r.stdout, "plugin/conn") || !strings.Contains(r.stdout, "not measured (no --broker-pid)") {
		t.Errorf("idle table:\n%s", r.stdout)
	}
}

// A refused SEND (here a bad topic, which the plugin's SDK refuses) comes
// back as an ERROR line before the final PING's PONG: the bench counts
// every one and fails.
func TestBenchTextRefusedPublishes(t *testing.T) {
	te := startText(t)
	r := runCLI(t, "bench", "--scenario", "pub", "--server", te.url, "--msgs", "50", "--topic", "bad..topic")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (stdout %q, stderr %q)", r.code, r.stdout, r.stderr)
	}
	oneErrorLine(t, r)
	if !strings.HasPrefix(r.stderr, "msgtrans: publisher 1: 50 publishes refused by the plugin, the first with \"ERROR ") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestBenchTextUnreachable(t *testing.T) {
	url := "text://" + strings.TrimPrefix(closedURL(t), "tcp://")
	r := runCLI(t, "bench", "--scenario", "pubsub", "--server", url, "--msgs", "10")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "msgtrans: cannot connect: "+url+": ") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	oneErrorLine(t, r)
}

func TestBenchTextUsageErrors(t *testing.T) {
	const u = "text://127.0.0.1:1"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--server", u, "--ca", "ca.pem"}, "--ca does not apply to text://"},
		{[]string{"--server", u, "--insecure", "--server-name", "x"}, "--insecure, --server-name does not apply to text://"},
		{[]string{"--server", u, "--pin", strings.Repeat("00", 32)}, "--pin does not apply to text://"},
		{[]string{"--server", u, "--token", "t"}, "--token does not apply to text://"},
		{[]string{"--server", u, "--user", "bob", "--password", "pw"}, "--password, --user does not apply to text://"},
		{[]string{"--server", u, "--name", "n"}, "--name does not apply to text://"},
		{[]string{"--server", u + ",tcp://127.0.0.1:2"}, "cannot be mixed"},
		{[]string{"--server", "text://127.0.0.1"}, "want text://host:port"},
		{[]string{"--server", "text://127.0.0.1:1/path"}, "want text://host:port"},
		{[]string{"--server", "tcp://127.0.0.1:1", "--scenario", "idle", "--plugin-pid", "1"}, "--plugin-pid applies only to a text://"},
		{[]string{"--server", u, "--plugin-pid", "1"}, "--plugin-pid does not apply to --scenario pubsub"},
		{[]string{"--server", u, "--scenario", "idle", "--plugin-pid", "-1"}, "--plugin-pid must be positive"},
	} {
		args := append([]string{"bench", "--scenario", "pubsub"}, c.args...)
		r := runCLI(t, args...)
		if r.code != 2 {
			t.Errorf("msgtrans %q: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
			continue
		}
		oneErrorLine(t, r)
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("msgtrans %q: stderr %q, want %q in it", args, r.stderr, c.want)
		}
	}
	r := runCLI(t, "bench", "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "--server text://127.0.0.1:7001") || !strings.Contains(r.stdout, "--plugin-pid pid") {
		t.Errorf("bench -h: exit %d, stdout lacks text:// example or --plugin-pid:\n%s", r.code, r.stdout)
	}
}

func TestLineReader(t *testing.T) {
	var in strings.Builder
	var want []string
	for i := range 300 {
		l := strings.Repeat(string(rune('a'+i%26)), i*37%9000)
		want = append(want, l)
		if i%3 == 0 {
			in.WriteString(l + "\r\n")
		} else {
			in.WriteString(l + "\n")
		}
	}
	for _, r := range []struct {
		name string
		r    func(string) io.Reader
	}{
		{"one byte", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
		{"half", func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) }},
		{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
	} {
		lr := lineReader{r: r.r(in.String()), buf: make([]byte, textReadMin), max: textMaxLine(9000, 0)}
		for i, w := range want {
			got, err := lr.next()
			if err != nil || string(got) != w {
				t.Fatalf("%s: line %d: %d bytes, err %v; want %d bytes", r.name, i, len(got), err, len(w))
			}
		}
		if _, err := lr.next(); err != io.EOF {
			t.Errorf("%s: after the last line: %v, want EOF", r.name, err)
		}
	}
	lr := lineReader{r: strings.NewReader(strings.Repeat("x", textReadMax+1) + "\n"), buf: make([]byte, textReadMin), max: textReadMax}
	if _, err := lr.next(); err != errTextLineTooLong {
		t.Errorf("a line over the limit: %v", err)
	}
}

// Payloads larger than the first read buffer and than a write chunk.
func TestBenchTextLargePayloads(t *testing.T) {
	te := startText(t)
	res := runBench(t, "--scenario", "fanout", "--subs", "2", "--server", te.url, "--msgs", "300", "--size", "30000")
	if res.Pub == nil || res.Pub.Msgs != 300 || res.Sub == nil || res.Sub.Msgs != 600 || res.Sub.Bytes != 600*30000 || res.Sub.Lost != 0 {
		t.Errorf("fanout of 30000-byte payloads: pub %+v sub %+v", res.Pub, res.Sub)
	}
}

// pipeText is a text client whose peer is played by the test.
func pipeText(tb testing.TB) (*textClient, net.Conn) {
	a, b := net.Pipe()
	c := newTextClient(a, "text://pipe", textMaxLine(16, 14))
	tb.Cleanup(func() { c.Close(); b.Close() })
	return c, b
}

// BenchmarkTextReceive: MSG lines parsed by the reader, in batches as a
// plugin writes them.
func BenchmarkTextReceive(b *testing.B) {
	c, peer := pipeText(b)
	var got atomic.Int64
	c.Subscribe("msgtrans.bench", func(p []byte) { got.Add(1) })
	go io.Copy(io.Discard, peer) // the SUB line
	line := "MSG msgtrans.bench abcdefghijklmnop\r\n"
	const batch = 1000
	chunk := []byte(strings.Repeat(line, batch))
	b.SetBytes(16)
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += batch {
		if _, err := peer.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	for got.Load() < int64(b.N) {
		runtime.Gosched()
	}
}

// BenchmarkTextPublish: SEND lines queued and written in chunks.
func BenchmarkTextPublish(b *testing.B) {
	c, peer := pipeText(b)
	go io.Copy(io.Discard, peer)
	payload := benchPayload(16)
	b.SetBytes(16)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.Publish("msgtrans.bench", payload); err != nil {
			b.Fatal(err)
		}
	}
}
