package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/sdk"
)

// cmd/mqtt-plugin run by the broker as a plugin process serves MQTT; when
// it is killed (-9), native clients go on unharmed, the broker restarts
// it, and the MQTT client reconnects to its persistent session, kept in
// the plugin's data_dir.
func TestMQTTPluginProcess(t *testing.T) {
	bin := testproc.Build(t, "../mqtt-plugin")
	addr := testproc.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "broker.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("plugins:\n  - name: mqttp\n    path: %s\n    settings:\n      listen: %s\n      data_dir: %s\n",
		bin, addr, t.TempDir())), 0o600)
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", cfg, "--mqtt", "")
	started := p.waitLog(t, "plugin started", `"plugin":"mqttp"`, `"status"`)
	pid := int(started["pid"].(float64))
	native, err := sdk.Connect(listenURL(t, p), sdk.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer native.Close()
	self, err := native.SubscribeSync("native.self")
	if err != nil {
		t.Fatal(err)
	}

	got := make(chan string, 100)
	reconnected := make(chan struct{}, 10)
	o := paho3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("plugged").SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).
		SetOnConnectHandler(func(paho3.Client) { reconnected <- struct{}{} }).
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) { got <- string(m.Payload()) })
	c := paho3.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	<-reconnected
	if tok := c.Subscribe("pl/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	qos1 := func(data string) {
		t.Helper()
		if err := native.PublishAck(ctx, &sdk.Msg{Topic: "pl.x", Data: []byte(data), Header: sdk.Header{"MQTT-QoS": {"1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	qos1("before")
	if m := <-got; m != "before" {
		t.Fatal(m)
	}

	syscall.Kill(pid, syscall.SIGKILL)
	p.waitLog(t, "plugin ended", "plugin process exited")
	// Native clients are unharmed.
	if err := native.Publish("native.self", []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if m, err := self.NextMsg(ctx); err != nil || string(m.Data) != "still here" {
		t.Fatalf("native client after the plugin died: %v %v", m, err)
	}
	p.waitLogFrom(t, len(p.seen), "plugin started", `"plugin":"mqttp"`, `"status"`)
	select {
	case <-reconnected:
	case <-ctx.Done():
		t.Fatal("MQTT client did not reconnect to the restarted plugin")
	}
	qos1("after")
	for {
		select {
		case m := <-got:
			if m == "before" {
				// At least once: the plugin died before its store had the
				// client's PUBACK, so the message comes again.
				continue
			}
			if m != "after" {
				t.Fatalf("got %q", m)
			}
			return
		case <-ctx.Done():
			for len(p.logs) > 0 {
				p.seen = append(p.seen, <-p.logs)
			}
			t.Fatalf("the restored session got nothing:\n%s", strings.Join(p.seen, "\n"))
		}
	}
}
