package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
)

// The text protocol serves its clients through the broker, as a plugin
// process and linked in alike: readiness and its own log lines appear in
// the broker's log with its name, its settings apply, and it stops with
// the broker.
func TestTextProtocolBothWays(t *testing.T) {
	for how, source := range textSources() {
		t.Run(how, func(t *testing.T) {
			p := startBroker(t, "--data-dir", t.TempDir(), "--config", textConfig(t, source, ""))
			started := p.waitLog(t, "plugin started", `"plugin":"text"`)
			addr, ok := strings.CutPrefix(fmt.Sprint(started["status"]), "listening on ")
			if !ok {
				t.Fatalf("plugin started: %v", started)
			}
			if _, hasPID := started["pid"]; hasPID != (how == "process") {
				t.Fatalf("plugin started: %v", started)
			}
			line := p.waitLog(t, "text protocol listening")
			if line["plugin"] != "text" || line["level"] != "info" || line["addr"] != addr {
				t.Fatalf("the protocol's log line: %v", line)
			}

			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			expect := func(want string) {
				t.Helper()
				l, err := r.ReadString('\n')
				if err != nil || strings.TrimRight(l, "\r\n") != want {
					t.Fatalf("got %q %v, want %q", l, err, want)
				}
			}
			fmt.Fprintf(c, "SUB greet.*\r\n")
			expect("+OK")
			native, err := sdk.Connect(listenURL(t, p), sdk.MaxReconnects(0))
			if err != nil {
				t.Fatal(err)
			}
			defer native.Close()
			if err := native.Publish("greet.en", []byte("hello")); err != nil {
				t.Fatal(err)
			}
			expect("MSG greet.en hello")
			s, _ := native.SubscribeSync("back.>")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			native.Flush(ctx)
			fmt.Fprintf(c, "PUB back.x from text\r\n")
			expect("+OK")
			if m, err := s.NextMsg(ctx); err != nil || string(m.Data) != "from text" {
				t.Fatalf("native got %v %v", m, err)
			}

			p.cmd.Process.Signal(syscall.SIGTERM)
			if err := p.waitExit(t); err != nil {
				t.Fatalf("exit: %v", err)
			}
		})
	}
}

// A text protocol that refuses its settings stops the broker's start, or,
// optional, is logged while the broker starts without it; either way.
func TestTextProtocolBadSettings(t *testing.T) {
	for how, source := range textSources() {
		t.Run(how, func(t *testing.T) {
			bad := "      max_line: lots\n"
			p := startBroker(t, "--data-dir", t.TempDir(), "--config", textConfig(t, source, bad))
			line := p.waitLog(t, "start failed")
			if msg := fmt.Sprint(line["error"]); !strings.Contains(msg, "plugin text") || !strings.Contains(msg, "max_line") {
				t.Fatalf("error: %s", msg)
			}
			var ee *exec.ExitError
			if err := p.waitExit(t); !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v", err)
			}

			p = startBroker(t, "--data-dir", t.TempDir(), "--config", textConfig(t, source, bad+"    optional: true\n"))
			p.waitLog(t, "optional plugin failed to start", "max_line")
			p.waitLog(t, "listening for tcp://")
		})
	}
}

// When the plugin process dies the broker goes on serving and restarts
// it. (The linked protocol's failure, which a black-box test cannot
// cause, is tested in package plugins.)
func TestBrokerSurvivesPluginProcessDeath(t *testing.T) {
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", pluginConfig(t, ""))
	started := p.waitLog(t, "plugin started", `"plugin":"text"`, `"status"`)
	pid := int(started["pid"].(float64))
	url := listenURL(t, p)
	syscall.Kill(pid, syscall.SIGKILL)
	p.waitLog(t, "plugin ended", "plugin process exited")
	c, err := sdk.Connect(url, sdk.MaxReconnects(0))
	if err != nil {
		t.Fatalf("broker not serving after the plugin died: %v", err)
	}
	c.Close()
	p.waitLog(t, "restarting plugin")
	again := p.waitLogFrom(t, len(p.seen), "plugin started", `"plugin":"text"`, `"status"`)
	if int(again["pid"].(float64)) == pid {
		t.Fatalf("restarted plugin has the old pid: %v", again)
	}
}
