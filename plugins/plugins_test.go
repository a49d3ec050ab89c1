package plugins_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/plugins"
	"github.com/msgtrans/msgtrans/protocols/text"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

const wait = 5 * time.Second

var pluginBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "msgtrans-plugins-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginBin = filepath.Join(dir, "example-plugin")
	if out, err := exec.Command("go", "build", "-o", pluginBin, "../cmd/example-plugin").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the example plugin: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestTextAndSDKClientsExchangeMessages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		e := start(t, be, plugins.Options{})
		text := dialText(t, e.pluginAddr(t))
		native := sdkConn(t, e.srv.URL)

		// native -> text, through a wildcard.
		text.cmd("SUB orders.*.created", "+OK")
		native.Publish("orders.eu.created", []byte("order 1"))
		if l := text.expect("MSG "); l != "MSG orders.eu.created order 1" {
			t.Fatalf("got %q", l)
		}

		// text -> native.
		s, _ := native.SubscribeSync("chat.>")
		flush(t, native)
		text.cmd("PUB chat.room1 hello from text", "+OK")
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if m, err := s.NextMsg(ctx); err != nil || string(m.Data) != "hello from text" || m.Topic != "chat.room1" {
			t.Fatalf("native got %v %v", m, err)
		}

		// Request-reply, native responder, text requester.
		native.Subscribe("svc.time", func(m *sdk.Msg) { m.Respond([]byte("noon")) })
		flush(t, native)
		text.cmd("REQ svc.time now?", "REPLY noon")
		text.cmd("REQ svc.nobody x", "-ERR no responders")

		// Request-reply, text responder, native requester.
		text.cmd("SUB svc.echo", "+OK")
		go func() {
			l := text.expect("REQUEST svc.echo ")
			f := strings.Fields(l) // REQUEST <topic> <reply> <payload...>
			text.send("PUB " + f[2] + " echo:" + strings.Join(f[3:], " "))
		}()
		resp, err := native.Request(ctx, "svc.echo", []byte("ping pong"))
		if err != nil || string(resp.Data) != "echo:ping pong" {
			t.Fatalf("native request: %v %v", resp, err)
		}
		text.expect("+OK") // for the PUB of the answer

		// Bad lines get -ERR, not a disconnect.
		text.cmd("FROB", "-ERR unknown command")
		text.cmd("PUB bad..topic x", "-ERR")
		text.cmd("SUB bad.>.filter", "-ERR")
		text.cmd("UNSUB not.subscribed", "-ERR")
		text.cmd("PING", "PONG")

		// The broker counts the plugin's sessions under the plugin's name.
		if n := e.srv.B.Stats().ConnectionsByProtocol["text"]; n != 1 {
			t.Fatalf("text sessions %d", n)
		}
	})
}

// A message larger than one gRPC message can carry (4 MiB) crosses the
// plugin boundary in pieces, in both directions.
func TestMessageLargerThanAGRPCMessage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		const size = 6 << 20
		e := startWith(t, be, adapterstest.Config{Broker: broker.Options{MaxPayload: 8 << 20}},
			map[string]string{"max_line": strconv.Itoa(8 << 20)}, plugins.Options{})
		text := dialText(t, e.pluginAddr(t))
		native := sdkConn(t, e.srv.URL)
		big := strings.Repeat("x", size)

		s, _ := native.SubscribeSync("big.out")
		flush(t, native)
		text.cmd("PUB big.out "+big, "+OK")
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if m, err := s.NextMsg(ctx); err != nil || len(m.Data) != size {
			t.Fatalf("native got %d bytes, %v", len(m.Data), err)
		}

		// The other way: a text client reads its MSG line itself, longer than
		// dialText's scanner takes.
		c, err := net.Dial("tcp", e.pluginAddr(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReaderSize(c, 16<<20)
		fmt.Fprintf(c, "SUB big.in\r\n")
		if l, err := r.ReadString('\n'); err != nil || l != "+OK\r\n" {
			t.Fatalf("SUB: %q %v", l, err)
		}
		if err := native.Publish("big.in", []byte(big)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(wait))
		l, err := r.ReadString('\n')
		if err != nil || l != "MSG big.in "+big+"\r\n" {
			t.Fatalf("text got %d bytes, %v", len(l), err)
		}
	})
}

func TestQueueGroupAcrossPluginAndNative(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		e := start(t, be, plugins.Options{})
		a, b := dialText(t, e.pluginAddr(t)), dialText(t, e.pluginAddr(t))
		a.cmd("SUB jobs workers", "+OK")
		b.cmd("SUB jobs workers", "+OK")
		native := sdkConn(t, e.srv.URL)
		var mu sync.Mutex
		nativeGot := 0
		native.QueueSubscribe("jobs", "workers", func(*sdk.Msg) { mu.Lock(); nativeGot++; mu.Unlock() })
		flush(t, native)
		const total = 150
		for i := range total {
			native.Publish("jobs", []byte(fmt.Sprint(i)))
		}
		flush(t, native)
		count := func(tc *textClient) int {
			n := 0
			for {
				select {
				case l := <-tc.lines:
					if strings.HasPrefix(l, "MSG jobs ") {
						n++
					}
				case <-time.After(300 * time.Millisecond):
					return n
				}
			}
		}
		na, nb := count(a), count(b)
		mu.Lock()
		defer mu.Unlock()
		if na+nb+nativeGot != total || na == 0 || nb == 0 || nativeGot == 0 {
			t.Fatalf("split: text %d + %d, native %d; want %d in all, each > 0", na, nb, nativeGot, total)
		}
	})
}

func TestOverlongLineDisconnects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		e := start(t, be, plugins.Options{})
		text := dialText(t, e.pluginAddr(t))
		text.send("PUB a " + strings.Repeat("x", 70000))
		text.expect("-ERR line longer than")
		select {
		case _, ok := <-text.lines:
			if ok {
				t.Fatal("still connected")
			}
		case <-time.After(wait):
			t.Fatal("not disconnected")
		}
	})
}

func TestPluginCrashIsSurvivedAndRestarted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		e := start(t, be, plugins.Options{MinBackoff: 50 * time.Millisecond})
		text := dialText(t, e.pluginAddr(t))
		text.cmd("SUB x", "+OK")
		native := sdkConn(t, e.srv.URL)
		s, _ := native.SubscribeSync("still.serving")
		flush(t, native)

		be.crash(t, e)
		// The text client's connection dies with the protocol.
		deadline := time.After(wait)
		for open := true; open; {
			select {
			case _, open = <-text.lines:
			case <-deadline:
				t.Fatal("text client still connected to a dead plugin")
			}
		}
		// Native clients are served all along.
		native.Publish("still.serving", []byte("yes"))
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if _, err := s.NextMsg(ctx); err != nil {
			t.Fatalf("native client not served: %v", err)
		}
		// The plugin comes back, its old sessions gone.
		// (go-plugin logs a "plugin started" of its own; ours has the status.)
		waitFor(t, func() bool { return strings.Count(e.logs.String(), `"status":"listening on`) == 2 })
		waitFor(t, func() bool { return e.srv.B.Stats().ConnectionsByProtocol["text"] == 0 })
		again := dialText(t, e.pluginAddr(t))
		again.cmd("PING", "PONG")
		if !strings.Contains(e.logs.String(), be.died) || !strings.Contains(e.logs.String(), "restarting plugin") {
			t.Fatalf("crash not logged:\n%s", e.logs)
		}
	})
}

func TestPluginLogsReachBrokerLog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		e := start(t, be, plugins.Options{})
		waitFor(t, func() bool { return strings.Contains(e.logs.String(), "text protocol listening") })
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(line, "text protocol listening") {
				if !strings.Contains(line, `"plugin":"text"`) || !strings.Contains(line, `"level":"info"`) {
					t.Fatalf("plugin log line: %s", line)
				}
				return
			}
		}
	})
}

func TestBadPluginConfigurations(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	e, _ := adapters.NewEngine(srv.B, adapters.Options{}, "test")
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notExec := filepath.Join(dir, "not-exec")
	os.WriteFile(notExec, []byte("data"), 0o644)
	for _, tc := range []struct {
		name string
		cfg  plugins.Config
		want error
		text string
	}{
		{"missing binary", plugins.Config{Path: filepath.Join(dir, "nope")}, plugins.ErrBinary, "no such file"},
		{"not executable", plugins.Config{Path: notExec}, plugins.ErrBinary, "permission denied"},
		{"not a plugin", plugins.Config{Path: script("true", "echo hello; exit 0")}, plugins.ErrHandshake, ""},
		{"wrong checksum", plugins.Config{Path: pluginBin, SHA256: strings.Repeat("0", 64)}, plugins.ErrChecksum, ""},
		{"handshake mismatch", plugins.Config{Path: script("oldproto", `echo "9|1|unix|/tmp/none.sock|grpc|"; sleep 5`)}, plugins.ErrHandshake, "version"},
		{"plugin refuses its settings", plugins.Config{Path: pluginBin, Settings: map[string]string{"max_line": "x"}}, plugins.ErrStart, "max_line"},
		{"linked protocol refuses its settings", plugins.Config{Protocol: text.Protocol{}, Settings: map[string]string{"max_line": "x"}}, plugins.ErrStart, "max_line"},
		{"linked protocol returns before Ready", plugins.Config{Protocol: protocolFunc(func(context.Context, *plugin.Host) error { return nil })}, plugins.ErrStart, "before calling Ready"},
		{"linked protocol is never ready", plugins.Config{Protocol: protocolFunc(func(ctx context.Context, _ *plugin.Host) error { <-ctx.Done(); return nil })}, plugins.ErrStart, "not ready after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name = "bad"
			r, err := plugins.New(tc.cfg, e, plugins.Options{StartTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Listen(context.Background())
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "plugin bad") || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.text)
			}
		})
	}
	for _, cfg := range []plugins.Config{
		{Name: "x", Path: pluginBin, SHA256: "zz"},
		{Name: "x"},
		{Name: "x", Path: pluginBin, Protocol: text.Protocol{}},
		{Name: "x", SHA256: strings.Repeat("0", 64), Protocol: text.Protocol{}},
		{Name: "two words", Protocol: text.Protocol{}},
		{Name: "wss", Protocol: text.Protocol{}},
		{Name: "inproc", Path: pluginBin},
	} {
		if _, err := plugins.New(cfg, e, plugins.Options{}); !errors.Is(err, plugins.ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", cfg, err)
		}
	}
}

// A text client that pipelines PUBs and half-closes gets an answer for
// every command before the plugin hangs up.
func TestHalfCloseGetsEveryAnswer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		e := start(t, be, plugins.Options{})
		addr := e.pluginAddr(t)
		for round := range 3 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			const n = 20000
			cmds := strings.Repeat("PUB half.close x\r\n", n)
			go func() {
				c.Write([]byte(cmds))
				c.(*net.TCPConn).CloseWrite()
			}()
			c.SetReadDeadline(time.Now().Add(wait))
			sc := bufio.NewScanner(c)
			got := 0
			for sc.Scan() {
				if sc.Text() != "+OK" {
					t.Fatalf("round %d: answer %q", round, sc.Text())
				}
				got++
			}
			c.Close()
			if got != n {
				t.Fatalf("round %d: %d answers for %d commands", round, got, n)
			}
		}
	})
}

// SEND publishes without an answer. A refusal, by the SDK or by the
// broker, comes as an ERROR line of its own, and a later PING's PONG comes
// after it: the client knows which of its SENDs failed by then.
func TestSendIsFireAndForget(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		e := start(t, be, plugins.Options{})
		text := dialText(t, e.pluginAddr(t))
		native := sdkConn(t, e.srv.URL)
		s, err := native.SubscribeSync("send.>")
		if err != nil {
			t.Fatal(err)
		}
		flush(t, native)

		text.send("SEND send.a one")
		text.send("SEND bad..topic x") // refused by the SDK's topic check
		text.send("PUB send.b two")    // still answered, in order
		text.send("SEND")              // no topic: refused before it leaves the plugin
		text.send("send send.c three") // commands are case-insensitive
		text.send("PING")
		var errs []string
		for {
			l := text.expect("")
			if l == "PONG" {
				break
			}
			switch {
			case strings.HasPrefix(l, "ERROR "):
				errs = append(errs, l)
			case l != "+OK":
				t.Fatalf("unexpected line %q", l)
			}
		}
		if len(errs) != 2 || !strings.Contains(strings.Join(errs, "\n"), "bad..topic") {
			t.Fatalf("ERROR lines before PONG: %q", errs)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		for _, want := range []string{"one", "two", "three"} {
			m, err := s.NextMsg(ctx)
			if err != nil || string(m.Data) != want {
				t.Fatalf("want %q, got %v %v", want, m, err)
			}
		}
		text.cmd("PING", "PONG") // the session goes on
	})
}
