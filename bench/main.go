// Command bench runs the same scenarios against msgtrans and nats-server on
// this machine, in one run, over TCP, WebSocket and QUIC, plus msgtrans
// through its example protocol plugin, and prints both results, their
// ratio, and each other msgtrans transport's ratio to msgtrans TCP
// (issue 6: WebSocket at least 70%, QUIC at least 50%, the plugin at least
// 30%).
//
//	apt-get install nats-server   # Debian's package
//	cd bench && go run .                       # tcp, ws, quic and plugin, 3 runs each
//	cd bench && go run . --transports tcp,ws --msgs 200000 --runs 1
//	cd bench && go run . --transports tcp,plugin --msgs 100000 --runs 1
//	cd bench && go run . --transports tcp,cluster --msgs 200000 --runs 3
//	cd bench && go run . --mqtt --msgs 200000 --runs 3   # MQTT rows (mosquitto installed)
//	cd bench && go run . --transports tcp,ws --scenarios large --runs 3   # only the large-message rows
//
// The large-message rows (16 KiB, 256 KiB, 1 MiB, 1 -> 1) report MB/s
// received and, per MB received, each server's CPU time and write system
// calls (from /proc, over the run). --cpuprofile and --memprofile profile the driver process
// itself, where both systems' clients run.
//
// The cluster transport (cluster.go) also needs redis-server: it compares
// three msgtrans nodes linked through Redis with three nats-servers linked
// by routes, clients spread over the nodes, and msgtrans's cluster rows
// with one msgtrans node over TCP (issue 15: at least 50%).
//
// Hostile clients (issue 14) have their own command in this module, which
// runs each attack beside a measuring pair and prints a verdict per attack:
//
//	cd bench && go run ./attack
//
// It builds ../cmd/broker, starts it (TCP, WebSocket and QUIC listeners,
// the QUIC one with a self-signed certificate made here and trusted by the
// SDK as its CA) and nats-server (client port and a plain WebSocket
// listener; NATS has no QUIC) on loopback ports, runs each scenario
// against each server in turn (--runs times, alternating servers, and
// reports the median), and stops them. Clients use the msgtrans SDK and
// nats.go; every publisher and subscriber has its own connection. It lives
// in its own module so the main module never depends on a NATS client.
//
// The plugin transport also builds ../cmd/example-plugin and
// ../cmd/msgtrans, has the broker launch the plugin (its line-based text
// protocol on a loopback port), and runs each scenario --runs times as
// `msgtrans bench --server text://... --json`, whose clients speak that
// protocol; the median of each metric is reported. nats-server has no such
// path, so those rows compare with msgtrans TCP only, and a note under the
// table says where msgtrans bench measures slightly differently from the
// in-process scenarios (see plugin.go).
//
// With the defaults (1M messages, 20k requests, 3 runs, four transports)
// a run takes a little over two minutes on a 2-core machine, the plugin's
// share under a minute; p50 and p99 of request-reply come from the same
// requests. Measure fewer transports with --transports; the ratio
// to TCP needs tcp among them.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"
)

type options struct {
	msgs, reqs, size, runs int
	largeMB                int
	transports             string
	scenarios              string
	cpuProfile, memProfile string
	brokerPprof            string
	natsBin                string
	asJSON                 bool
	mqtt                   bool
	mqttIdle               int
	mqttOnly               string
	mosquittoBin           string
}

func main() {
	var o options
	flag.IntVar(&o.msgs, "msgs", 1000000, "messages per throughput scenario (the fan-out publishes half as many)")
	flag.IntVar(&o.reqs, "reqs", 20000, "requests in the request-reply scenario (plus a tenth to warm up; the plugin row warms up with one)")
	flag.IntVar(&o.size, "size", 16, "payload bytes")
	flag.IntVar(&o.largeMB, "large-mb", 256, "megabytes per large-message row (1 -> 1 at 16 KiB, 256 KiB and 1 MiB, in MB/s); 0 leaves those rows out")
	flag.StringVar(&o.scenarios, "scenarios", "", "comma-separated scenarios to measure (default all): "+strings.Join(scenarioKeys, ", ")+" (the three large-message rows)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the clients of both systems) to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of this process to this file at the end")
	flag.StringVar(&o.brokerPprof, "broker-pprof", "", "have the broker serve Go's profiler on this loopback address (127.0.0.1:port), at /debug/pprof/")
	flag.IntVar(&o.runs, "runs", 3, "runs per scenario, server and transport; the median is reported")
	flag.StringVar(&o.transports, "transports", "tcp,ws,quic,plugin",
		"comma-separated transports to measure: tcp, ws, quic, plugin (msgtrans through cmd/example-plugin, driven by msgtrans bench), cluster (3 nodes over Redis vs 3 routed nats-servers); the ratio to TCP needs tcp")
	flag.StringVar(&o.natsBin, "nats-server", "nats-server", "nats-server binary")
	flag.BoolVar(&o.asJSON, "json", false, "print results as JSON")
	flag.BoolVar(&o.mqtt, "mqtt", false, "measure the MQTT rows instead: msgtrans (MQTT linked in, and cmd/mqtt-plugin), mosquitto, mochi-mqtt")
	flag.IntVar(&o.mqttIdle, "mqtt-idle", 0, "with --mqtt: measure broker memory per idle MQTT connection at this many connections instead")
	flag.StringVar(&o.mqttOnly, "mqtt-systems", "", "with --mqtt: comma-separated systems to measure (default all); measure idle memory one system per run, each in fresh processes")
	flag.StringVar(&o.mosquittoBin, "mosquitto", "/usr/sbin/mosquitto", "mosquitto binary, for --mqtt")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	want, err := parseTransports(o.transports)
	if err != nil {
		return err
	}
	if o.runs < 1 || o.msgs < 2 || o.reqs < 1 || o.size < 0 || o.largeMB < 0 {
		return fmt.Errorf("--runs, --msgs and --reqs must be positive (--msgs at least 2), --size and --large-mb not negative")
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "msgtrans-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.mqtt {
		srv, systems, pids, err := startMQTTServers(dir, o.mosquittoBin)
		if err != nil {
			return err
		}
		defer srv.stop()
		if o.mqttOnly != "" {
			var keep []mqttSystem
			for _, s := range systems {
				if strings.Contains(","+o.mqttOnly+",", ","+s.name+",") {
					keep = append(keep, s)
				}
			}
			if len(keep) == 0 {
				return fmt.Errorf("--mqtt-systems %q names none of msgtrans, msgtrans plugin, mosquitto, mochi-mqtt", o.mqttOnly)
			}
			systems = keep
		}
		if o.mqttIdle > 0 {
			return mqttIdle(os.Stdout, os.Stderr, systems, pids, o.mqttIdle)
		}
		if err := runMQTT(os.Stdout, os.Stderr, systems, o.msgs, o.size, o.runs); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%d runs each, %d msgs, %d-byte payloads; took %s\n", o.runs, o.msgs, o.size, time.Since(start).Round(time.Second))
		return nil
	}
	srv, err := startServers(dir, want, o.natsBin, max(o.size, largest(o.largeMB)), o.brokerPprof)
	if err != nil {
		return err
	}
	defer srv.stop()

	var progress io.Writer = os.Stderr
	if o.asJSON {
		progress = io.Discard
	}
	scs, err := pickScenarios(scenarios(o.msgs, o.reqs, make([]byte, o.size), o.largeMB), o.scenarios)
	if err != nil {
		return err
	}
	picked := map[string]bool{}
	for _, sc := range scs {
		picked[sc.name] = true
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.memProfile != "" {
		defer func() {
			if f, err := os.Create(o.memProfile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	var ts []transport
	for _, name := range transportNames {
		switch {
		case !want[name]:
		case name == "plugin":
			ts = append(ts, pluginTransport(srv, o.msgs, o.reqs, o.size, o.runs, picked, progress))
		default:
			ts = append(ts, builtinTransport(name, srv, scs, o.runs, progress))
		}
	}
	results := make([]medians, len(ts))
	for i, t := range ts {
		if results[i], err = t.measure(); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	rows := buildRows(allMetrics(scs), ts, results)
	if o.asJSON {
		return json.NewEncoder(os.Stdout).Encode(rows)
	}
	printTable(os.Stdout, rows)
	fmt.Fprintf(progress, "%d runs each, %d msgs, %d requests, %d-byte payloads; took %s\n",
		o.runs, o.msgs, o.reqs, o.size, time.Since(start).Round(time.Second))
	return nil
}

// largest is the largest payload the large-message rows send, if any.
func largest(largeMB int) int {
	if largeMB <= 0 {
		return 0
	}
	return largeSizes[len(largeSizes)-1].size
}
