package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// memoryBudget is limits.max_memory, or when it is 0 half of the memory
// the broker may use: the machine's, or its cgroup's limit if lower. Half
// leaves room for what the budget does not count (per-connection state,
// the retained store, the Go runtime) and for the garbage collector.
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

// applyMemoryLimit sets the Go runtime's soft memory limit a quarter above
// the budget (unless GOMEMLIMIT is set), so that the collector works harder
// as the heap nears it: what the budget lets clients hold stays close to
// what the process holds, instead of twice that between collections.
func applyMemoryLimit(budget int64, log zerolog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		log.Info().Int64("budget", budget).Msg("memory budget set; GOMEMLIMIT from the environment left as is")
		return
	}
	limit := budget + budget/4 + 64<<20
	debug.SetMemoryLimit(limit)
	log.Info().Int64("budget", budget).Int64("go_memory_limit", limit).Msg("memory budget for clients' buffers")
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
