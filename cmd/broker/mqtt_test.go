package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/sdk"
)

// mqttAddr is the address of the broker's linked-in MQTT listener.
func mqttAddr(t *testing.T, p *proc) (host, port string) {
	t.Helper()
	st := fmt.Sprint(p.waitLog(t, "plugin started", `"plugin":"mqtt"`)["status"])
	addr, ok := strings.CutPrefix(st, "listening on ")
	if !ok {
		t.Fatalf("mqtt status %q", st)
	}
	host, port, _ = strings.Cut(addr, ":")
	return host, port
}

// The real command-line clients from Debian talk to the real broker
// binary, both ways across the topic mapping: mosquitto_sub receives what
// a native client publishes, a native subscriber receives what
// mosquitto_pub publishes, and an MQTT 5 request from mosquitto_rr is
// answered by a native responder.
func TestMosquittoClientsInterop(t *testing.T) {
	sub, pub, rr := testproc.Need(t, "mosquitto_sub"), testproc.Need(t, "mosquitto_pub"), testproc.Need(t, "mosquitto_rr")
	p := startBroker(t, "--data-dir", t.TempDir())
	host, port := mqttAddr(t, p)
	native, err := sdk.Connect(listenURL(t, p), sdk.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer native.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// native -> mosquitto_sub: a retained message, then live ones until
	// the subscriber has one (it subscribes at a time the test cannot see).
	if err := native.PublishAck(ctx, &sdk.Msg{Topic: "sensors.kitchen.temp", Data: []byte("21.5"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, sub, "-h", host, "-p", port, "-t", "sensors/#", "-v", "-C", "2", "-W", "15", "-q", "1")
	out := make(chan string, 1)
	go func() {
		b, err := cmd.CombinedOutput()
		out <- fmt.Sprintf("%s%v", b, err)
	}()
	var got string
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case got = <-out:
			break wait
		case <-tick.C:
			native.Publish("sensors.hall.temp", []byte("live"))
		}
	}
	if got != "sensors/kitchen/temp 21.5\nsensors/hall/temp live\n<nil>" {
		t.Fatalf("mosquitto_sub printed %q", got)
	}

	// mosquitto_pub -> native, QoS 1 and a 5.0 user property.
	s, err := native.SubscribeSync("dev.>")
	if err != nil {
		t.Fatal(err)
	}
	native.Flush(ctx)
	if b, err := exec.CommandContext(ctx, pub, "-h", host, "-p", port, "-V", "5", "-q", "1", "-t", "dev/1/state", "-m", "on",
		"-D", "publish", "user-property", "site", "lab").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, b)
	}
	m, err := s.NextMsg(ctx)
	if err != nil || m.Topic != "dev.1.state" || string(m.Data) != "on" || m.Header.Get("site") != "lab" || m.Header.Get("MQTT-QoS") != "1" {
		t.Fatalf("native got %+v %v", m, err)
	}

	// mosquitto_rr (MQTT 5 request) -> native responder.
	if _, err := native.Subscribe("svc.time", func(m *sdk.Msg) { m.Respond([]byte("noon for " + string(m.Data))) }); err != nil {
		t.Fatal(err)
	}
	native.Flush(ctx)
	b, err := exec.CommandContext(ctx, rr, "-h", host, "-p", port, "-t", "svc/time", "-e", "resp/rr", "-m", "me", "-W", "10").CombinedOutput()
	if err != nil || strings.TrimSpace(string(b)) != "noon for me" {
		t.Fatalf("mosquitto_rr: %v %q", err, b)
	}
}

// Kill -9 of the broker with a persistent QoS 1 session holding queued
// messages: after the restart the client reconnects and receives every
// message that was acknowledged to its publisher.
func TestMQTTSessionSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	p := startBroker(t, "--data-dir", dir)
	host, port := mqttAddr(t, p)
	url := "tcp://" + host + ":" + port
	client := func(url, id string, clean bool, got chan string) paho3.Client {
		o := paho3.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
			SetProtocolVersion(4).SetAutoReconnect(false).
			SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) { got <- string(m.Payload()) })
		c := paho3.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect %s: %v", id, tok.Error())
		}
		return c
	}
	got := make(chan string, 1000)
	sub := client(url, "durable", false, got)
	if tok := sub.Subscribe("kq/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	sub.Disconnect(100)
	pub := client(url, "pub", true, nil)
	const n = 50
	for i := range n {
		if tok := pub.Publish("kq/x", 1, false, fmt.Sprint(i)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	// docs/mqtt.md: an acknowledged message reaches the session store
	// with the next group commit, milliseconds later.
	time.Sleep(time.Second)
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(t)

	p2 := startBroker(t, "--data-dir", dir)
	host, port = mqttAddr(t, p2)
	sub = client("tcp://"+host+":"+port, "durable", false, got)
	defer sub.Disconnect(100)
	for i := range n {
		select {
		case m := <-got:
			if m != fmt.Sprint(i) {
				t.Fatalf("message %d: %q", i, m)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d acknowledged messages after kill -9", i, n)
		}
	}
}
