package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

type benchOptions struct {
	scenario   string
	msgs       int
	size       int
	pubs       int
	subs       int
	clients    int
	responders int
	conns      int
	brokerPID  int
	pluginPID  int
	hold       time.Duration
	duration   time.Duration
	timeout    time.Duration
	topic      string
	asJSON     bool
}

// scenarioFlags lists, for each scenario, the flags that mean something to
// it besides those all scenarios share; giving another one is a usage
// error rather than an option silently ignored.
var scenarioFlags = map[string][]string{
	"pub":      {"msgs", "size", "pubs", "duration", "timeout"},
	"pubsub":   {"msgs", "size", "duration", "timeout"},
	"fanout":   {"msgs", "size", "subs", "duration", "timeout"},
	"nm":       {"msgs", "size", "pubs", "subs", "duration", "timeout"},
	"req":      {"msgs", "size", "clients", "responders", "duration", "timeout"},
	"idle":     {"conns", "broker-pid", "plugin-pid", "hold"},
	"sub-only": {"msgs", "subs", "duration", "timeout"},
}

var benchCommonFlags = []string{"scenario", "topic", "json"}

func benchCommand() *command {
	o := &benchOptions{}
	return &command{
		name:    "bench",
		summary: "measure throughput, latency and connection cost",
		usage:   "--scenario <name> [flags]",
		help: `
Runs a benchmark against a running broker and prints a results table (or one
JSON object with --json). Every publisher, subscriber, requester and
responder has a connection of its own. Progress is drawn on stderr only when
stderr is a terminal.

Scenarios:
  pub       --pubs publishers (default 1) publish --msgs messages each;
            nobody subscribes (unless another process does, see sub-only)
  pubsub    1 publisher -> 1 subscriber
  fanout    1 publisher -> --subs subscribers (default 4), each gets every message
  nm        --pubs publishers (default 2) -> --subs subscribers (default 2);
            each subscriber gets every message of every publisher
  req       --clients requesters (default 1) each send --msgs requests one
            after the other to --responders responders (default 1) in a
            queue group that echo the payload; reports the round-trip
            latency percentiles (p50, p90, p99, p99.9, max, mean) from an
            HDR histogram
  idle      opens --conns idle connections (default 1000), holds them for
            --hold, and reports the memory each costs: the broker's RSS
            (VmRSS from /proc/<pid>/status, read before and after) when
            --broker-pid is given, and this client's own RSS and Go heap
            always; without --broker-pid only the client side is reported.
            Over text:// each session's cost is split between the broker
            and the plugin process: --plugin-pid reports the plugin's RSS
            per connection too
  sub-only  --subs subscribers (default 1) wait for --msgs messages each and
            report the receive rate, so that "bench --scenario pub" in
            another process (or on another machine) can feed it:
              msgtrans bench --scenario sub-only --msgs 1000000 &
              msgtrans bench --scenario pub --msgs 1000000
            start sub-only first; it waits for the first message as long as
            it takes, then gives up after --timeout without one

How it measures: subscribers are subscribed and confirmed by the broker
(flush) before publishing starts. The publish side runs from the start until
the broker has confirmed processing the last message (flush); publishers
flush every 256 KiB or so, which keeps them at most two such windows ahead
of the broker. The receive side runs from the first message received to the
last, over all subscribers. Every subscriber must receive every message:
messages still missing --timeout after the last one arrived are reported as
lost and the command exits with status 1. --duration stops publishing after
that time instead of (or, with --msgs given too, in addition to) the message
count. MB/s counts payload bytes, in units of 10^6 bytes.

The transport is the scheme of the URL connected to (--server), so run the
same scenario with --server ws://... or quic://... to compare transports.
text://host:port runs it through the example plugin (cmd/example-plugin)
instead: every client is a connection to the plugin's line protocol on that
port (its "listen" setting), which opens a broker session for it. Publishes
are pipelined SEND lines, fire and forget like the native protocol's (an
ERROR line, a refused SEND, is counted and fails the run), a flush is
PING/PONG (the plugin answers once the broker has every earlier SEND),
requests are REQ lines and responders answer REQUEST lines with SEND. The text
protocol has no TLS and the plugin uses its own credentials, so the TLS
flags, --token, --user, --password and --name do not apply to text://.

Examples:
  msgtrans bench --scenario pubsub --msgs 1000000
  msgtrans bench --scenario fanout --subs 8 --size 128 --server ws://127.0.0.1:8002/ws
  msgtrans bench --scenario req --clients 4 --msgs 20000 --json
  msgtrans bench --scenario idle --conns 5000 --broker-pid $(pidof broker)
  msgtrans bench --scenario pubsub --msgs 200000 --server text://127.0.0.1:7001
  msgtrans bench --scenario idle --conns 5000 --server text://127.0.0.1:7001 \
      --broker-pid $(pidof broker) --plugin-pid $(pidof example-plugin)`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.scenario, "scenario", "", "`name`: pub, pubsub, fanout, nm, req, idle or sub-only (required)")
			fs.IntVar(&o.msgs, "msgs", 100000, "messages per publisher (req: requests per client; sub-only: messages per subscriber)")
			fs.IntVar(&o.size, "size", 16, "payload size in `bytes`")
			fs.IntVar(&o.pubs, "pubs", 0, "number of publishers (pub: default 1, nm: default 2)")
			fs.IntVar(&o.subs, "subs", 0, "number of subscribers (fanout: default 4, nm: default 2, sub-only: default 1)")
			fs.IntVar(&o.clients, "clients", 1, "concurrent requesters (req)")
			fs.IntVar(&o.responders, "responders", 1, "responders in the queue group (req)")
			fs.IntVar(&o.conns, "conns", 1000, "idle connections to open (idle)")
			fs.IntVar(&o.brokerPID, "broker-pid", 0, "`pid` of the broker, to read its RSS (idle; Linux /proc)")
			fs.IntVar(&o.pluginPID, "plugin-pid", 0, "`pid` of the text:// plugin process, to read its RSS too (idle over text://; Linux /proc)")
			fs.DurationVar(&o.hold, "hold", time.Second, "how long to hold the idle connections before measuring (idle)")
			fs.DurationVar(&o.duration, "duration", 0, "publish (req: send requests; sub-only: receive) for this long instead of --msgs")
			fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "give up on missing messages after this long without one (also bounds each flush and request)")
			fs.StringVar(&o.topic, "topic", "msgtrans.bench", "the `topic` to use")
			fs.BoolVar(&o.asJSON, "json", false, "print the result as one JSON object")
		},
		run: o.run,
	}
}

func (o *benchOptions) run(ctx context.Context, e *env, fs *flag.FlagSet, cf *connFlags, args []string) error {
	if len(args) != 0 {
		return usagef("bench takes no arguments, got %q", strings.Join(args, " "))
	}
	if err := o.validate(fs); err != nil {
		return err
	}
	// The transport first: a flag that does not apply to it is the error
	// to report, rather than, say, a --ca file that cannot be read.
	d, err := o.newBenchDialer(fs, cf)
	if err != nil {
		return err
	}
	if _, err := cf.options(""); err != nil {
		return err
	}
	var res *benchResult
	switch o.scenario {
	case "pub":
		res, err = o.throughput(ctx, e, d, o.pubs, 0)
	case "pubsub":
		res, err = o.throughput(ctx, e, d, 1, 1)
	case "fanout":
		res, err = o.throughput(ctx, e, d, 1, o.subs)
	case "nm":
		res, err = o.throughput(ctx, e, d, o.pubs, o.subs)
	case "sub-only":
		res, err = o.throughput(ctx, e, d, 0, o.subs)
	case "req":
		res, err = o.request(ctx, e, d)
	case "idle":
		res, err = o.idle(ctx, e, d)
	}
	if res != nil {
		if perr := printResult(e, res, o.asJSON); perr != nil && err == nil {
			err = perr
		}
	}
	if res != nil && res.Interrupted && (err == nil || errors.Is(err, errInterrupted)) {
		return errors.New("interrupted: the results above are partial")
	}
	return err
}

func (o *benchOptions) validate(fs *flag.FlagSet) error {
	allowed, ok := scenarioFlags[o.scenario]
	if !ok {
		names := make([]string, 0, len(scenarioFlags))
		for n := range scenarioFlags {
			names = append(names, n)
		}
		sort.Strings(names)
		if o.scenario == "" {
			return usagef("--scenario is required: one of %s", strings.Join(names, ", "))
		}
		return usagef("unknown --scenario %q: want one of %s", o.scenario, strings.Join(names, ", "))
	}
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		if !connFlagNames[f.Name] && !slices.Contains(benchCommonFlags, f.Name) && !slices.Contains(allowed, f.Name) {
			bad = append(bad, "--"+f.Name)
		}
	})
	if len(bad) > 0 {
		return usagef("%s does not apply to --scenario %s", strings.Join(bad, ", "), o.scenario)
	}
	defaults := map[string]struct{ pubs, subs int }{
		"pub": {1, 0}, "pubsub": {1, 1}, "fanout": {1, 4}, "nm": {2, 2}, "sub-only": {0, 1},
	}
	if d, ok := defaults[o.scenario]; ok {
		if !isSet(fs, "pubs") {
			o.pubs = d.pubs
		}
		if !isSet(fs, "subs") {
			o.subs = d.subs
		}
	}
	if o.duration > 0 && !isSet(fs, "msgs") {
		o.msgs = 0 // no count limit: the duration ends it
	}
	switch {
	case o.msgs < 0 || (o.msgs == 0 && o.duration <= 0):
		return usagef("--msgs must be positive, got %d", o.msgs)
	case o.duration < 0:
		return usagef("--duration must not be negative, got %v", o.duration)
	case o.size < 0:
		return usagef("--size must not be negative, got %d", o.size)
	case isSet(fs, "pubs") && o.pubs < 1:
		return usagef("--pubs must be at least 1, got %d", o.pubs)
	case isSet(fs, "subs") && o.subs < 1:
		return usagef("--subs must be at least 1, got %d", o.subs)
	case o.clients < 1:
		return usagef("--clients must be at least 1, got %d", o.clients)
	case o.responders < 1:
		return usagef("--responders must be at least 1, got %d", o.responders)
	case o.conns < 1:
		return usagef("--conns must be at least 1, got %d", o.conns)
	case o.brokerPID < 0:
		return usagef("--broker-pid must be positive, got %d", o.brokerPID)
	case o.pluginPID < 0:
		return usagef("--plugin-pid must be positive, got %d", o.pluginPID)
	case o.hold < 0:
		return usagef("--hold must not be negative, got %v", o.hold)
	case o.timeout <= 0:
		return usagef("--timeout must be positive, got %v", o.timeout)
	case o.topic == "" || strings.ContainsAny(o.topic, "*> \t"):
		return usagef("--topic must be a topic without wildcards, got %q", o.topic)
	}
	return nil
}

// benchResult is what a scenario measured; --json prints it as is.
type benchResult struct {
	Scenario    string        `json:"scenario"`
	Transport   string        `json:"transport"`
	Server      string        `json:"server"`
	Size        int           `json:"size"`
	Publishers  int           `json:"publishers"`
	Subscribers int           `json:"subscribers"`
	Pub         *pubStats     `json:"pub,omitempty"`
	Sub         *subStats     `json:"sub,omitempty"`
	Latency     *latencyStats `json:"latency_us,omitempty"`
	Idle        *idleStats    `json:"idle,omitempty"`
	// Interrupted: a signal stopped the run; the numbers cover what was
	// done until then.
	Interrupted bool `json:"interrupted,omitempty"`
}

// rate is a count over a period.
type rate struct {
	Msgs     uint64  `json:"msgs"`
	Bytes    uint64  `json:"bytes"`
	ElapsedS float64 `json:"elapsed_s"`
	MsgsPerS float64 `json:"msgs_per_s"`
	MBPerS   float64 `json:"mb_per_s"` // payload bytes, 10^6 per MB
}

func newRate(msgs, bytes uint64, d time.Duration) rate {
	r := rate{Msgs: msgs, Bytes: bytes, ElapsedS: d.Seconds()}
	if d > 0 {
		r.MsgsPerS = float64(msgs) / d.Seconds()
		r.MBPerS = float64(bytes) / 1e6 / d.Seconds()
	}
	return r
}

// pubStats is the publish side: every publisher, start to last flush.
type pubStats struct {
	rate
}

// subStats is the receive side: every subscriber, first message to last.
type subStats struct {
	rate
	Expected uint64 `json:"expected"` // messages that should have arrived, over all subscribers
	Lost     uint64 `json:"lost"`
}

// latencyStats are round-trip times in microseconds.
type latencyStats struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// idleStats is the memory cost of idle connections.
type idleStats struct {
	Conns             int     `json:"conns"`
	HoldS             float64 `json:"hold_s"`
	BrokerPID         int     `json:"broker_pid,omitempty"`
	BrokerRSSBefore   uint64  `json:"broker_rss_before_bytes,omitempty"`
	BrokerRSSAfter    uint64  `json:"broker_rss_after_bytes,omitempty"`
	BrokerPerConn     float64 `json:"broker_rss_per_conn_bytes,omitempty"`
	PluginPID         int     `json:"plugin_pid,omitempty"`
	PluginRSSBefore   uint64  `json:"plugin_rss_before_bytes,omitempty"`
	PluginRSSAfter    uint64  `json:"plugin_rss_after_bytes,omitempty"`
	PluginPerConn     float64 `json:"plugin_rss_per_conn_bytes,omitempty"`
	ClientRSSPerConn  float64 `json:"client_rss_per_conn_bytes"`
	ClientHeapPerConn float64 `json:"client_heap_per_conn_bytes"`
}

// progress draws a status line on stderr while a scenario runs, only when
// stderr is a terminal; the returned function erases it.
func progress(e *env, line func() string) (stop func()) {
	if !e.errTTY {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(e.stderr, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(e.stderr, "\r%s\033[K", line())
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

var errInterrupted = errors.New("interrupted")

func printResult(e *env, r *benchResult, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(append(b, '\n'))
		return err
	}
	_, err := e.stdout.Write([]byte(resultTable(r)))
	return err
}
