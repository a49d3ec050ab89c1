package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/msgtrans/msgtrans/sdk"
)

// A transport is one group of rows in the table: the metrics measured over
// one way of reaching the broker. measure is all there is to it, so a row
// group produced some other way only has to return the same medians. The
// "plugin" transport (msgtrans through cmd/example-plugin, plugin.go) is
// such a one: its measure runs `msgtrans bench --server text://... --json`
// as a subprocess for each scenario and files the results under the metric
// names of scenarios.go (mPublish.name, ...), leaving nats-server's value
// nil; the table, the ratios to TCP and --json follow.
type transport struct {
	name string
	// target is issue 6's lower bound for msgtrans throughput over this
	// transport as a fraction of msgtrans over TCP; 0 when there is none.
	target float64
	// note, if any, says how this transport's numbers were measured where
	// that differs from the others; printed under the table.
	note    string
	measure func() (medians, error)
}

// values are one metric's medians: msgtrans, nats-server. nil where that
// system was not measured (nats-server has no QUIC).
type values [2]*float64

// medians maps a metric name to its values; a metric the transport does
// not measure is absent and gets no row.
type medians map[string]values

// transportNames are the transports --transports accepts, in table order.
var transportNames = []string{"tcp", "ws", "quic", "plugin", "cluster"}

// parseTransports reads a comma-separated --transports list.
func parseTransports(list string) (map[string]bool, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" {
			continue
		}
		known := false
		for _, k := range transportNames {
			known = known || n == k
		}
		if !known {
			return nil, fmt.Errorf("--transports: unknown transport %q (want some of %s)", n, strings.Join(transportNames, ","))
		}
		want[n] = true
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("--transports: empty")
	}
	return want, nil
}

// builtinTransport is a transport the servers started by startServers
// speak, measured with the msgtrans SDK and, where it has the transport,
// nats.go.
func builtinTransport(name string, srv *servers, scs []scenario, runs int, progress io.Writer) transport {
	mt := func(url string, opts ...sdk.Option) system {
		return system{name: "msgtrans", transport: name, dial: dialMsgtrans(url, opts...), pid: srv.mtPID}
	}
	nt := func(url string) system {
		return system{name: "nats-server", transport: name, dial: dialNATS(url), pid: srv.natsPID}
	}
	var (
		systems []system
		target  float64
	)
	switch name {
	case "tcp":
		systems = []system{mt("tcp://" + srv.mtTCP), nt("nats://" + srv.natsTCP)}
	case "ws":
		systems = []system{mt("ws://" + srv.mtWS + "/ws"), nt("ws://" + srv.natsWS)}
		target = 0.70
	case "quic":
		systems = []system{mt("quic://"+srv.mtQUIC, sdk.RootCAFile(srv.caFile))}
		target = 0.50
	case "cluster":
		systems = clusterSystems(srv.cluster)
		target = 0.50 // issue 15: cross-node at least half of one node
	default:
		panic("no built-in transport " + name)
	}
	return transport{name: name, target: target, measure: func() (medians, error) { return measureClients(systems, scs, runs, progress) }}
}

// measureClients runs every scenario runs times against each system (at
// most two: msgtrans, then nats-server), alternating between them so that
// a change in the machine's load falls on both, and returns the medians.
func measureClients(systems []system, scs []scenario, runs int, progress io.Writer) (medians, error) {
	for _, sys := range systems {
		if err := waitReady(sys); err != nil {
			return nil, err
		}
	}
	out := medians{}
	for _, sc := range scs {
		// samples[system][metric] are the runs' values
		samples := make([][][]float64, len(systems))
		for i := range samples {
			samples[i] = make([][]float64, len(sc.metrics))
		}
		for range runs {
			for i, sys := range systems {
				vals, err := sc.run(sys)
				if err != nil {
					return nil, fmt.Errorf("%s over %s, %s: %w", sys.name, sys.transport, sc.name, err)
				}
				for m, v := range vals {
					samples[i][m] = append(samples[i][m], v)
				}
			}
		}
		for m, met := range sc.metrics {
			var v values
			for i := range systems {
				if len(samples[i][m]) == 0 {
					continue // not measured for this system (no server pid)
				}
				med := median(samples[i][m])
				v[i] = &med
			}
			if v[0] != nil || v[1] != nil {
				out[met.name] = v
			}
		}
		fmt.Fprintf(progress, "done: %s over %s\n", sc.name, systems[0].transport)
	}
	return out, nil
}

func median(vals []float64) float64 {
	sort.Float64s(vals)
	return vals[len(vals)/2]
}
