// Command attack runs the hostile clients of issue 14 against a real
// broker, one attack at a time, each against a fresh broker process with
// a memory budget (limits.max_memory), while a well-behaved publisher and
// subscriber pair, in a process of its own, measures its latency
// alongside. It prints a table: the attack, the broker's peak RSS (VmRSS
// sampled from /proc/<pid>/status, and the kernel's VmHWM) and CPU, the
// pair's p50/p99/max latency (and its p99 from 3 s in, past the attack's
// setting up) and lost messages, and a verdict against the targets: peak
// RSS below the budget, pair p99 under --p99 (50 ms), nothing lost, the
// broker alive and the pair never disconnected. A first row runs no attack:
// what the machine's own load does to the pair.
//
//	cd bench && go run ./attack                        # every attack, 15 s each
//	cd bench && go run ./attack --only flood,trie --duration 10s
//	cd bench && go run ./attack --list
//
// Every client is on loopback; the largest attack holds --conns
// connections at once (2,000 by default), far below a 20,000 open-files
// limit for both processes. The attack run is not part of CI; its table is
// recorded in docs/benchmarks.md.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// env is what an attack gets: the broker under attack, its scale, and
// counters for what its clients saw.
type env struct {
	b        *brokerProc
	conns    int
	cnt      counters
	retained int // retained messages stored by prepare
}

// attack is one row of the table.
type attack struct {
	name string
	// config is extra broker configuration (YAML), if any.
	config func() (string, error)
	// pairAuth: the pair logs in as pairUser.
	pairAuth bool
	// prepare runs before the pair starts, e.g. to fill the retained store.
	prepare func(ctx context.Context, e *env) error
	// run attacks until ctx ends and returns a note on what it did.
	run func(ctx context.Context, e *env) string
}

var attacks = []attack{
	// the pair alone: what this machine's load does to it
	{name: "baseline-no-attack", run: func(ctx context.Context, e *env) string {
		<-ctx.Done()
		return "no attack"
	}},
	// memory amplifiers
	{name: "queue-groups-x-topics", run: queueGroupsTopics},
	{name: "hello-header-64k", run: helloHeaders},
	{name: "pub-header-1MiB-trickle", run: pubTrickle},
	{name: "never-reading-subs-flood", run: slowSubscribers},
	// starvation
	{name: "same-filter-65536", run: sameFilter},
	{name: "trie-wildcard-churn", run: trieChurn},
	{name: "retained-replay-200k", run: retainedReplay,
		prepare: func(ctx context.Context, e *env) error { return storeRetained(ctx, e, 200_000) }},
	// already repelled
	{name: "no-hello", run: noHello},
	{name: "slowloris-before-hello", run: slowloris},
	{name: "garbage-tcp", run: garbageTCP},
	{name: "garbage-ws", run: garbageWS},
	{name: "garbage-quic", run: garbageQUIC},
	{name: "ws-huge-fragmented", run: hugeFragments},
	{name: "no-responders-storm", run: noResponders},
	{name: "failed-login-storm", run: failedLogins, config: authConfig, pairAuth: true},
}

// settle is how long into an attack the table's second p99 starts: it
// tells a stall while the attack sets itself up (thousands of connections
// or subscriptions at once) from one that lasts.
const settle = 3 * time.Second

type options struct {
	duration time.Duration
	budget   int64
	p99      time.Duration
	conns    int
	rate     int
	only     string
	logLevel string
	pprof    string // a directory for each broker's profiles, "" for none
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == pairChildArg {
		if err := runPairChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "attack: pair:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var budget string
	var list bool
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "how long each attack runs (the pair measures throughout)")
	flag.StringVar(&budget, "budget", "1GiB", "limits.max_memory of the broker under attack, and the RSS target")
	flag.DurationVar(&o.p99, "p99", 50*time.Millisecond, "the pair's p99 latency target")
	flag.IntVar(&o.conns, "conns", 2000, "connections at once for the connection-holding attacks (the trickle and slowloris ones use half)")
	flag.IntVar(&o.rate, "pair-rate", 500, "messages per second the pair publishes")
	flag.StringVar(&o.only, "only", "", "comma-separated substrings: run only the attacks whose names contain one")
	flag.BoolVar(&list, "list", false, "list the attacks and exit")
	flag.StringVar(&o.logLevel, "broker-log", "", "a broker log level (info, debug): print the last lines of each broker's log after its attack")
	flag.StringVar(&o.pprof, "pprof", "", "a directory: write each broker's CPU profile and execution trace of the attack's first --pprof-for into it (monitoring listener on, with http.pprof)")
	flag.DurationVar(&profileFor, "pprof-for", 3*time.Second, "how long --pprof profiles, from the attack's start")
	flag.Parse()
	if list {
		for _, a := range attacks {
			fmt.Println(a.name)
		}
		return
	}
	var err error
	if o.budget, err = parseSize(budget); err != nil {
		fmt.Fprintln(os.Stderr, "attack: --budget:", err)
		os.Exit(2)
	}
	if o.duration <= 0 || o.conns < 2 || o.rate < 1 {
		fmt.Fprintln(os.Stderr, "attack: --duration, --pair-rate must be positive and --conns at least 2")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	var chosen []attack
	for _, a := range attacks {
		if selected(a.name, o.only) {
			chosen = append(chosen, a)
		}
	}
	if len(chosen) == 0 {
		return fmt.Errorf("no attack matches --only %q (see --list)", o.only)
	}
	dir, err := os.MkdirTemp("", "msgtrans-attack")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := buildBroker(dir)
	if err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("broker limits.max_memory %s; each attack %s against a fresh broker; pair %d msgs/s on TCP; %d CPUs, load %s\n",
		formatSize(o.budget), o.duration, o.rate, runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "))
	var rows []row
	for _, a := range chosen {
		fmt.Fprintf(os.Stderr, "%s ...\n", a.name)
		r, err := runOne(a, bin, dir, o)
		if err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
		fmt.Fprintf(os.Stderr, "  %s\n", r.note)
		rows = append(rows, r)
	}
	printTable(os.Stdout, rows)
	return nil
}

func selected(name, only string) bool {
	if only == "" {
		return true
	}
	for _, s := range strings.Split(only, ",") {
		if s != "" && strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// runOne starts a broker, runs one attack beside the pair, and measures.
func runOne(a attack, bin, dir string, o options) (row, error) {
	extra := ""
	if a.config != nil {
		var err error
		if extra, err = a.config(); err != nil {
			return row{}, err
		}
	}
	b, err := startBroker(bin, dir, o.budget, extra, cmp.Or(o.logLevel, "warn"), 50*time.Millisecond, o.pprof != "")
	if err != nil {
		return row{}, err
	}
	defer b.stop()
	e := &env{b: b, conns: o.conns}
	if a.prepare != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := a.prepare(ctx, e)
		cancel()
		if err != nil {
			return row{}, fmt.Errorf("preparing: %w", err)
		}
	}
	p, err := startPairProc("tcp://"+b.tcp, o.rate, o.duration, a.pairAuth)
	if err != nil {
		return row{}, err
	}
	cpu0, _ := b.cpuTime()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	noted := make(chan string, 1)
	profiled := profile(b, o.pprof, a.name)
	go func() { noted <- a.run(ctx, e) }()
	<-ctx.Done()
	if err := <-profiled; err != nil {
		fmt.Fprintln(os.Stderr, "  profile:", err)
	}
	var note string
	select {
	case note = <-noted:
	case <-time.After(15 * time.Second):
		note = "the attack's clients did not stop within 15 s of the end"
	}
	cpu1, _ := b.cpuTime()
	cpu := float64(cpu1-cpu0) / float64(time.Since(start))
	res, err := p.result(30 * time.Second)
	if err != nil {
		return row{}, err
	}
	if res.max > o.p99 {
		note += fmt.Sprintf("; the slowest pair message was sent %.1f s in", res.maxAt.Seconds())
	}
	if rs := b.log.closeReasons(); rs != "" {
		note += "; broker closed (warn log): " + rs
	}
	r := row{attack: a.name, peakRSS: b.peak(), pair: res, alive: b.alive(), note: note, cpu: cpu}
	r.verdict = verdict(r, o.budget, o.p99)
	if !r.alive {
		r.note += "; broker log: " + strings.ReplaceAll(lastLines(b.log.String(), 5), "\n", " | ")
	}
	if o.logLevel != "" {
		fmt.Fprintf(os.Stderr, "  broker log:\n%s\n", lastLines(b.log.String(), 30))
	}
	return r, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
