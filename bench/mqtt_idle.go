package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// mqttIdle measures the broker memory an idle MQTT connection costs: the
// growth of the resident set of the system's processes (for the plugin,
// the broker's and the plugin's) from before to after n connections have
// connected and stay idle (keep alive off).
func mqttIdle(w, progress io.Writer, systems []mqttSystem, pids map[string][]int, n int) error {
	fmt.Fprintf(w, "\n| idle MQTT connections | %d connections, broker memory per connection |\n|---|---:|\n", n)
	for _, s := range systems {
		before := rss(pids[s.name])
		conns := make([]*mqttConn, 0, n)
		for i := range n {
			c, err := dialMQTT(s.addr, fmt.Sprintf("idle-%d", i))
			if err != nil {
				for _, c := range conns {
					c.nc.Close()
				}
				return fmt.Errorf("%s: connection %d: %w", s.name, i, err)
			}
			conns = append(conns, c)
		}
		time.Sleep(2 * time.Second) // let the brokers settle
		after := rss(pids[s.name])
		per := float64(after-before) / float64(n)
		fmt.Fprintf(progress, "%s: %d idle connections, RSS %d -> %d KiB\n", s.name, n, before>>10, after>>10)
		fmt.Fprintf(w, "| %s | %.1f KiB |\n", s.name, per/1024)
		for _, c := range conns {
			c.nc.Close()
		}
		time.Sleep(time.Second)
		runtime.GC()
	}
	return nil
}

// rss sums the resident set sizes of pids, in bytes.
func rss(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				total += kb << 10
			}
		}
	}
	return total
}

// children returns the child processes of pid.
func children(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
		}
	}
	return out
}
