package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux this runs on (the kernel's ABI fixes it for
// userspace, whatever CONFIG_HZ is).
const clockTick = 10 * time.Millisecond

// cpuTime returns the CPU time (user + system, all threads) the process
// pid has used so far, from /proc/<pid>/stat; the resolution is one clock
// tick (10 ms), fine for runs of a second or more.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after its closing parenthesis start at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	// utime and stime are fields 14 and 15 of the whole line.
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// serverUse is what a server process has used so far: CPU time, and
// write system calls (write, writev, sendmsg and the like: syscw in
// /proc/<pid>/io), which tell how well it coalesces its output.
type serverUse struct {
	cpu    time.Duration
	writes int64
}

func readServerUse(pid int) (serverUse, error) {
	cpu, err := cpuTime(pid)
	if err != nil {
		return serverUse{}, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return serverUse{}, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("syscw: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return serverUse{}, fmt.Errorf("/proc/%d/io: %w", pid, err)
			}
			return serverUse{cpu, n}, nil
		}
	}
	return serverUse{}, fmt.Errorf("/proc/%d/io: no syscw", pid)
}
