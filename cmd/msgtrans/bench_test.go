package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
)

const benchMsgs = 2000

// runBench runs a bench scenario with --json and decodes its result.
func runBench(t *testing.T, args ...string) benchResult {
	t.Helper()
	r := runCLI(t, append([]string{"bench", "--json"}, args...)...)
	mustOK(t, r, "bench "+strings.Join(args, " "))
	return decodeBench(t, r)
}

func decodeBench(t *testing.T, r result) benchResult {
	t.Helper()
	var res benchResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("bench output %q: %v", r.stdout, err)
	}
	return res
}

// checkCounts checks that every message was published and received.
func checkCounts(t *testing.T, res benchResult, transport string, pubs, subs int) {
	t.Helper()
	if res.Transport != transport {
		t.Errorf("transport %q, want %q", res.Transport, transport)
	}
	if res.Publishers != pubs || res.Subscribers != subs {
		t.Errorf("publishers/subscribers %d/%d, want %d/%d", res.Publishers, res.Subscribers, pubs, subs)
	}
	published := uint64(benchMsgs * pubs)
	if pubs > 0 {
		if res.Pub == nil || res.Pub.Msgs != published || res.Pub.Bytes != published*16 || res.Pub.MsgsPerS <= 0 {
			t.Errorf("publish side %+v, want %d messages", res.Pub, published)
		}
	}
	if subs == 0 {
		if res.Sub != nil {
			t.Errorf("receive side %+v without subscribers", res.Sub)
		}
		return
	}
	want := published * uint64(subs)
	if res.Sub == nil || res.Sub.Msgs != want || res.Sub.Expected != want || res.Sub.Lost != 0 || res.Sub.Bytes != want*16 {
		t.Errorf("receive side %+v, want %d messages, none lost", res.Sub, want)
	}
}

func TestBenchScenariosTCP(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	n := strconv.Itoa(benchMsgs)
	for _, c := range []struct {
		name       string
		args       []string
		pubs, subs int
	}{
		{"pub", []string{"--scenario", "pub"}, 1, 0},
		{"pubsub", []string{"--scenario", "pubsub"}, 1, 1},
		{"fanout", []string{"--scenario", "fanout", "--subs", "3"}, 1, 3},
		{"nm", []string{"--scenario", "nm", "--pubs", "3", "--subs", "2"}, 3, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runBench(t, append(c.args, "--server", srv.URL, "--msgs", n)...)
			if res.Scenario != c.name || res.Size != 16 {
				t.Errorf("scenario %q size %d", res.Scenario, res.Size)
			}
			checkCounts(t, res, "tcp", c.pubs, c.subs)
		})
	}
}

func TestBenchPubSubWebSocketAndQUIC(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	n := strconv.Itoa(benchMsgs)
	res := runBench(t, "--scenario", "pubsub", "--server", srv.WSURL, "--msgs", n)
	checkCounts(t, res, "ws", 1, 1)
	res = runBench(t, "--scenario", "pubsub", "--server", srv.QUICURL, "--pin", srv.CertSHA256, "--msgs", n)
	checkCounts(t, res, "quic", 1, 1)
}

func TestBenchRequest(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	res := runBench(t, "--scenario", "req", "--server", srv.URL, "--msgs", "300", "--clients", "2", "--responders", "2", "--size", "64")
	if res.Pub == nil || res.Pub.Msgs != 600 || res.Latency == nil || res.Latency.Count != 600 {
		t.Fatalf("req result %+v latency %+v, want 600 requests", res.Pub, res.Latency)
	}
	l := res.Latency
	if !(l.Min > 0 && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Mean > 0) {
		t.Errorf("latency percentiles out of order: %+v", l)
	}
	if res.Publishers != 2 || res.Subscribers != 2 || res.Size != 64 {
		t.Errorf("req result %+v", res)
	}
}

func TestBenchIdle(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	// The broker runs in this process, so its pid is ours.
	res := runBench(t, "--scenario", "idle", "--server", srv.URL, "--conns", "20", "--hold", "10ms",
		"--broker-pid", strconv.Itoa(os.Getpid()))
	st := res.Idle
	if st == nil || st.Conns != 20 || st.BrokerPID != os.Getpid() || st.BrokerRSSBefore == 0 || st.BrokerRSSAfter == 0 {
		t.Fatalf("idle result %+v", st)
	}
	// Without --broker-pid only the client side is measured; the table says so.
	r := runCLI(t, "bench", "--scenario", "idle", "--server", srv.URL, "--conns", "5", "--hold", "0s")
	mustOK(t, r, "idle without pid")
	if !strings.Contains(r.stdout, "not measured (no --broker-pid)") {
		t.Errorf("idle table:\n%s", r.stdout)
	}
}

func TestBenchSubOnlyFedByPub(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	n := strconv.Itoa(benchMsgs)
	wait, _ := runAsync(t, "bench", "--json", "--scenario", "sub-only", "--server", srv.URL, "--msgs", n, "--topic", "feed.x")
	waitSubs(t, srv, 1)
	pub := runBench(t, "--scenario", "pub", "--server", srv.URL, "--msgs", n, "--topic", "feed.x")
	checkCounts(t, pub, "tcp", 1, 0)
	r := wait()
	mustOK(t, r, "sub-only")
	res := decodeBench(t, r)
	if res.Scenario != "sub-only" || res.Transport != "tcp" || res.Pub != nil || res.Sub == nil ||
		res.Sub.Msgs != benchMsgs || res.Sub.Expected != benchMsgs || res.Sub.Lost != 0 || res.Sub.MsgsPerS <= 0 {
		t.Errorf("sub-only result %+v, receive side %+v", res, res.Sub)
	}
}

func TestBenchDurationAndTable(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	res := runBench(t, "--scenario", "pubsub", "--server", srv.URL, "--duration", "200ms")
	if res.Pub == nil || res.Pub.Msgs == 0 || res.Sub == nil || res.Sub.Msgs != res.Pub.Msgs || res.Sub.Lost != 0 {
		t.Fatalf("pubsub --duration: pub %+v sub %+v", res.Pub, res.Sub)
	}
	if res.Pub.ElapsedS < 0.2 {
		t.Errorf("published for %.3fs, want at least 0.2s", res.Pub.ElapsedS)
	}

	r := runCLI(t, "bench", "--scenario", "fanout", "--subs", "2", "--server", srv.URL, "--msgs", "500")
	mustOK(t, r, "fanout table")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "scenario  transport  side") ||
		!strings.HasPrefix(lines[1], "fanout    tcp        pub ") || !strings.HasPrefix(lines[2], "fanout    tcp        sub ") ||
		!strings.HasSuffix(lines[2], " 0") || !strings.Contains(lines[2], " 1,000 ") {
		t.Errorf("table:\n%s", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("progress or noise on a non-terminal stderr: %q", r.stderr)
	}
}
