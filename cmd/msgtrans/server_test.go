package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/monitor"
	"github.com/msgtrans/msgtrans/sdk"
)

// startMonitored runs a broker with its transports and its monitoring
// listener on loopback, and returns both URLs.
func startMonitored(t *testing.T, user, password string) (*adapterstest.Server, string) {
	t.Helper()
	srv := adapterstest.Start(t, adapterstest.Config{})
	m, err := monitor.New(srv.B, monitor.Options{Addr: "127.0.0.1:0", User: user, Password: password, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.Serve(ctx)
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return srv, "http://" + m.Addr().String()
}

func TestServerCommands(t *testing.T) {
	srv, mon := startMonitored(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := sdk.Connect(srv.WSURL, sdk.Name("orders-consumer"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sub.Subscribe("orders.>", func(*sdk.Msg) {})
	sub.QueueSubscribe("orders.*", "billing", func(*sdk.Msg) {})
	sub.Flush(ctx)
	pub, err := sdk.Connect(srv.URL, sdk.Name("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for range 12 {
		if err := pub.PublishAck(ctx, &sdk.Msg{Topic: "orders.new", Data: []byte("0123456789")}); err != nil {
			t.Fatal(err)
		}
	}

	r := runCLI(t, "server", "info", "--url", mon)
	mustOK(t, r, "server info")
	for _, want := range []string{"Server " + srv.B.ID(), "version test", "Health ok", "Connections", "2 (2 since start)",
		"12 (120 B)", "Subscriptions", "tcp", "ws"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("server info lacks %q:\n%s", want, r.stdout)
		}
	}

	r = runCLI(t, "server", "conns", "--url", mon, "--sort", "msgs_in")
	mustOK(t, r, "server conns")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "2 of 2 open connections, by msgs_in") ||
		!strings.Contains(lines[2], "ID") || !strings.Contains(lines[3], "shop") || !strings.Contains(lines[4], "orders-consumer") {
		t.Fatalf("server conns:\n%s", r.stdout)
	}
	r = runCLI(t, "server", "conns", "--url", mon, "--protocol", "ws")
	if r.code != 0 || !strings.Contains(r.stdout, "1 of 1 open") || strings.Contains(r.stdout, "shop") {
		t.Fatalf("server conns --protocol ws: %+v", r)
	}

	r = runCLI(t, "server", "subs", "--url", mon, "--test", "orders.new")
	mustOK(t, r, "server subs")
	for _, want := range []string{"2 subscriptions on 2 filters (1 queue groups)", "orders.>", "billing",
		"A message on orders.new would make 2 deliveries", "orders-consumer"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("server subs lacks %q:\n%s", want, r.stdout)
		}
	}

	// Mistakes are told apart from failures.
	for _, args := range [][]string{
		{"server"}, {"server", "restart"}, {"server", "info", "--sort", "idle"}, {"server", "subs", "--state", "closed"},
		{"server", "conns", "--limit", "0"}, {"server", "conns", "--sort", "name"}, {"server", "conns", "--state", "gone"}, {"server", "info", "--url", "ftp://x"}, {"server", "info", "--server", "tcp://x"},
	} {
		if r := runCLI(t, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, r.code, exitUsage, r.stderr)
		}
	}
	r = runCLI(t, "server", "subs", "--url", mon, "--test", "orders.*")
	if r.code != exitRuntime || !strings.Contains(r.stderr, "/subsz refused the request: test:") {
		t.Fatalf("a test topic the server refuses: %+v", r)
	}
	oneErrorLine(t, r)
	r = runCLI(t, "server", "info", "--url", "http://127.0.0.1:1")
	if r.code != exitRuntime || !strings.Contains(r.stderr, "cannot reach the monitoring endpoint") {
		t.Fatalf("no endpoint: %+v", r)
	}
}

func TestServerCommandsAuth(t *testing.T) {
	_, mon := startMonitored(t, "ops", "pw")
	r := runCLI(t, "server", "info", "--url", mon)
	if r.code != exitRuntime || !strings.Contains(r.stderr, "wants credentials") {
		t.Fatalf("without credentials: %+v", r)
	}
	mustOK(t, runCLI(t, "server", "info", "--url", mon, "--user", "ops", "--password", "pw"), "with credentials")
	resp, err := http.Get(mon + "/varz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("plain GET: %s", resp.Status)
	}
}
