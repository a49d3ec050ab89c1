package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// memoryBudget is limits.max_memory, the memory the broker process may
// use in all, or when it is 0 half of what it could: the machine's memory,
// or its cgroup's limit if lower (the other half for everything else on
// the machine, the page cache included).
func memoryBudget(configured Size) int64 {
	if configured > 0 {
		return int64(configured)
	}
	avail := machineMemory()
	if cg := cgroupLimit(); cg > 0 && cg < avail {
		avail = cg
	}
	if avail <= 0 {
		return 1 << 30 // cannot tell: a gibibyte
	}
	return avail / 2
}

// clientShare is the part of the budget that clients' buffers (pending
// output, large read buffers) may take: the rest is for what the broker
// holds anyway (sessions, subscriptions, the retained store, the runtime)
// and for the garbage collector's headroom.
func clientShare(budget int64) int64 { return budget / 4 * 3 }

// applyMemoryLimit makes the budget the Go runtime's soft memory limit
// (unless GOMEMLIMIT is set), so that the collector works harder as the
// heap nears it instead of letting it reach twice what is live: with
// clients held to three quarters of it, the process stays within it.
func applyMemoryLimit(budget int64, log zerolog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		log.Info().Int64("budget", budget).Int64("clients", clientShare(budget)).
			Msg("memory budget set; GOMEMLIMIT from the environment left as is")
		return
	}
	debug.SetMemoryLimit(budget)
	log.Info().Int64("budget", budget).Int64("clients", clientShare(budget)).Msg("memory budget (the Go memory limit); clients' buffers get three quarters")
}

// machineMemory is MemTotal from /proc/meminfo, in bytes, or 0.
func machineMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// MemTotal:       24597352 kB
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// cgroupLimit is the cgroup v2 memory limit of this process, or 0 when
// there is none (or it cannot be read).
func cgroupLimit() int64 {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	// cgroup v2: a single line "0::/path".
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		path, ok := strings.CutPrefix(line, "0::")
		if !ok {
			continue
		}
		raw, err := os.ReadFile("/sys/fs/cgroup" + path + "/memory.max")
		if err != nil {
			return 0
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil { // "max"
			return 0
		}
		return v
	}
	return 0
}
