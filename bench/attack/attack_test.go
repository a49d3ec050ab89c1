package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	st := "Name:\tbroker\nVmPeak:\t 2000000 kB\nVmHWM:\t  524288 kB\nVmRSS:\t  262144 kB\nThreads:\t9\n"
	rss, hwm, err := parseStatus([]byte(st))
	if err != nil || rss != 256<<20 || hwm != 512<<20 {
		t.Fatalf("parseStatus = %d, %d, %v; want 256 MiB, 512 MiB", rss, hwm, err)
	}
	if _, _, err := parseStatus([]byte("Name:\tkthreadd\nState:\tS\n")); err == nil {
		t.Fatal("a status without VmRSS parsed")
	}
	// This process's own status has both, and its RSS is not zero.
	own, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if rss, hwm, err := parseStatus(own); err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("own status: rss %d hwm %d err %v", rss, hwm, err)
	}
}

func TestVerdict(t *testing.T) {
	good := row{alive: true, peakRSS: 100 << 20, pair: pairResult{p99: 5 * time.Millisecond, sent: 1000}}
	if v := verdict(good, 1<<30, 50*time.Millisecond); v != "pass" {
		t.Fatalf("a good row: %q", v)
	}
	bad := good
	bad.peakRSS, bad.pair.p99, bad.pair.lost, bad.alive = 2<<30, time.Second, 3, false
	v := verdict(bad, 1<<30, 50*time.Millisecond)
	for _, want := range []string{"FAIL", "broker died", "RSS over budget", "p99 over 50ms", "lost messages"} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict %q does not say %q", v, want)
		}
	}
	idle := good
	idle.pair.sent = 0
	if v := verdict(idle, 1<<30, 50*time.Millisecond); v == "pass" {
		t.Fatal("a pair that sent nothing passed")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512MiB": 512 << 20, "64 KiB": 64 << 10, "4096": 4096} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1MiB", "lots", "1TB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// The worst-case trie: 2^16 distinct filters of 17 tokens.
func TestTrieFilter(t *testing.T) {
	seen := map[string]bool{}
	for i := range 1 << 16 {
		f := trieFilter(i)
		if strings.Count(f, ".") != 16 || !strings.HasSuffix(f, ".z") {
			t.Fatalf("filter %d: %q", i, f)
		}
		seen[f] = true
	}
	if len(seen) != 1<<16 {
		t.Fatalf("%d distinct filters, want 65536", len(seen))
	}
	if trieFilter(0) != strings.Repeat("a.", 16)+"z" || trieFilter(1<<16-1) != strings.Repeat("*.", 16)+"z" {
		t.Fatal("the extremes are not all-literal and all-wildcard")
	}
}

// The broker's log, written in pieces that split lines, yields the reasons
// sessions were closed for, with numbers folded.
func TestCloseReasons(t *testing.T) {
	tb := &tailBuffer{max: 64}
	log := `{"level":"warn","message":"session closed","reason":"broker: slow consumer: more than 67108864 bytes pending"}
{"level":"warn","message":"login failed","reason":"bad password"}
{"level":"warn","message":"session closed","reason":"broker: slow consumer: more than 1024 bytes pending"}
not json
{"level":"warn","message":"session closed","reason":"stale"}
`
	for i := 0; i < len(log); i += 7 {
		tb.Write([]byte(log[i:min(i+7, len(log))]))
	}
	want := `2x "broker: slow consumer: more than N bytes pending", 1x "stale"`
	if got := tb.closeReasons(); got != want {
		t.Fatalf("closeReasons = %s\nwant %s", got, want)
	}
	if len(tb.String()) != 64 {
		t.Fatalf("the tail holds %d bytes, want the last 64", len(tb.String()))
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250, stime 50.
	st := "4242 (bro ker)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 1000000 200 18446744073709551615"
	if d, err := parseStatCPU([]byte(st)); err != nil || d != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", d, err)
	}
	if _, err := parseStatCPU([]byte("4242 (broker) S 1")); err == nil {
		t.Fatal("a short stat line parsed")
	}
}
