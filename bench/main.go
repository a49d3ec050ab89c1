// Command bench runs the same scenarios against msgtrans and nats-server on
// this machine, in one run, and prints both results and their ratio.
//
//	apt-get install nats-server   # Debian's package
//	cd bench && go run . --msgs 1000000
//
// It builds ../cmd/broker, starts both servers on loopback ports, runs each
// scenario against each server in turn (--runs times, reporting the median),
// and stops them. Clients use the msgtrans SDK and nats.go; every publisher
// and subscriber has its own connection. It lives in its own module so the
// main module never depends on a NATS client.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"
)

func main() {
	var (
		msgs   = flag.Int("msgs", 1000000, "messages per throughput scenario")
		reqs   = flag.Int("reqs", 20000, "requests in the request-reply scenario")
		size   = flag.Int("size", 16, "payload bytes")
		runs   = flag.Int("runs", 3, "runs per scenario and server; the median is reported")
		natsBn = flag.String("nats-server", "nats-server", "nats-server binary")
		asJSON = flag.Bool("json", false, "print results as JSON")
	)
	flag.Parse()
	if err := run(*msgs, *reqs, *size, *runs, *natsBn, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(msgs, reqs, size, runs int, natsBin string, asJSON bool) error {
	dir, err := os.MkdirTemp("", "msgtrans-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	if _, err := exec.LookPath(natsBin); err != nil {
		return fmt.Errorf("%s not found (apt-get install nats-server): %w", natsBin, err)
	}
	brokerBin := filepath.Join(dir, "broker")
	build := exec.Command("go", "build", "-o", brokerBin, "./cmd/broker")
	build.Dir = ".." // the main module
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the broker: %v\n%s", err, out)
	}
	mtAddr, natsAddr := freePort(), freePort()
	cfg := filepath.Join(dir, "broker.yaml")
	os.WriteFile(cfg, []byte("retained:\n  store: memory\nlimits:\n  max_pending: 1GiB\n"), 0o600)
	mt := exec.Command(brokerBin, "--config", cfg, "--tcp", mtAddr, "--ws", "", "--quic", "",
		"--data-dir", filepath.Join(dir, "data"), "--log-level", "warn", "--log-format", "json")
	mt.Stderr = os.Stderr
	// Both servers get the same 1 GiB slow-consumer limit, so that a burst
	// is measured rather than cut off.
	natsCfg := filepath.Join(dir, "nats.conf")
	os.WriteFile(natsCfg, []byte(fmt.Sprintf("listen: %q\nmax_pending: 1073741824\n", natsAddr)), 0o600)
	ns := exec.Command(natsBin, "-c", natsCfg)
	for _, c := range []*exec.Cmd{mt, ns} {
		if err := c.Start(); err != nil {
			return err
		}
		defer func() { c.Process.Kill(); c.Wait() }()
	}
	for _, a := range []string{mtAddr, natsAddr} {
		if err := waitListening(a); err != nil {
			return err
		}
	}
	systems := []system{
		{"msgtrans", dialMsgtrans("tcp://" + mtAddr)},
		{"nats-server", dialNATS("nats://" + natsAddr)},
	}
	payload := make([]byte, size)
	var rows []row
	for _, sc := range scenarios(msgs, reqs, payload) {
		r := row{Scenario: sc.name, Unit: sc.unit, LowerIsBetter: sc.lowerBetter}
		for i, sys := range systems {
			var vals []float64
			for range runs {
				v, err := sc.run(sys)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", sc.name, sys.name, err)
				}
				vals = append(vals, v)
			}
			sort.Float64s(vals)
			r.Values[i] = vals[len(vals)/2]
		}
		r.Ratio = r.Values[0] / r.Values[1]
		rows = append(rows, r)
		if !asJSON {
			fmt.Fprintf(os.Stderr, "done: %s\n", sc.name)
		}
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(rows)
	}
	fmt.Printf("%-34s %14s %14s %8s  %s\n", "scenario", "msgtrans", "nats-server", "ratio", "unit")
	for _, r := range rows {
		better := "higher is better"
		if r.LowerIsBetter {
			better = "lower is better"
		}
		fmt.Printf("%-34s %14s %14s %8.2f  %s (%s)\n", r.Scenario, human(r.Values[0]), human(r.Values[1]), r.Ratio, r.Unit, better)
	}
	return nil
}

type row struct {
	Scenario      string     `json:"scenario"`
	Unit          string     `json:"unit"`
	Values        [2]float64 `json:"values"` // msgtrans, nats-server
	Ratio         float64    `json:"ratio"`  // msgtrans / nats-server
	LowerIsBetter bool       `json:"lower_is_better"`
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.1f", v)
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}
