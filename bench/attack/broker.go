package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// brokerProc is one broker under attack: a fresh process per attack, so
// that its peak RSS belongs to that attack alone.
type brokerProc struct {
	tcp, ws, quic string // host:port
	http          string // the monitoring listener, with pprof (--pprof); "" without
	cmd           *exec.Cmd
	exited        chan struct{}
	log           *tailBuffer

	mu       sync.Mutex
	peakRSS  int64 // largest VmRSS sampled, bytes
	stopSamp chan struct{}
	sampDone chan struct{}
}

// buildBroker builds ../cmd/broker into dir and returns its path.
func buildBroker(dir string) (string, error) {
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/broker")
	build.Dir = ".." // the main module, from bench/
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building ./cmd/broker: %v\n%s", err, out)
	}
	return filepath.Join(dir, "broker"), nil
}

// brokerConfig is the YAML every attack's broker starts with: the memory
// budget under test, a memory retained store (the replay attack fills it;
// bbolt would measure the disk), the monitoring listener off, and extra
// (an attack's own keys, e.g. auth) appended.
func brokerConfig(tcp, ws, quic, http string, budget int64, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "limits:\n  max_memory: %d\n", budget)
	fmt.Fprintf(&b, "retained:\n  store: memory\n")
	fmt.Fprintf(&b, "tcp:\n  listen: %q\nws:\n  listen: %q\n  path: /ws\nquic:\n  listen: %q\n", tcp, ws, quic)
	if http != "" {
		fmt.Fprintf(&b, "http:\n  listen: %q\n  pprof: true\n", http)
	} else {
		b.WriteString("http:\n  listen: \"\"\n")
	}
	b.WriteString("mqtt:\n  listen: \"\"\n  ws_path: \"\"\n") // its default port would be shared by every broker
	b.WriteString(extra)
	return b.String()
}

// startBroker writes the configuration into dir and starts bin with it, then
// waits until its TCP listener accepts, and samples its RSS from
// /proc/<pid>/status every interval until stop.
func startBroker(bin, dir string, budget int64, extra, logLevel string, interval time.Duration, profile bool) (*brokerProc, error) {
	b := &brokerProc{tcp: freeTCPPort(), ws: freeTCPPort(), quic: freeUDPPort(),
		exited: make(chan struct{}), log: &tailBuffer{max: 64 << 10},
		stopSamp: make(chan struct{}), sampDone: make(chan struct{})}
	if profile {
		b.http = freeTCPPort()
	}
	cfgFile := filepath.Join(dir, "broker.yaml")
	if err := os.WriteFile(cfgFile, []byte(brokerConfig(b.tcp, b.ws, b.quic, b.http, budget, extra)), 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	os.RemoveAll(data)
	b.cmd = exec.Command(bin, "--config", cfgFile, "--data-dir", data, "--log-level", logLevel, "--log-format", "json")
	b.cmd.Env = append(os.Environ(), "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true")
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { b.cmd.Wait(); close(b.exited) }()
	if err := waitTCP(b.tcp, b.exited); err != nil {
		b.stop()
		return nil, fmt.Errorf("%w\nbroker log:\n%s", err, b.log)
	}
	go b.sample(interval)
	return b, nil
}

func (b *brokerProc) sample(interval time.Duration) {
	defer close(b.sampDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	path := fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid)
	for {
		if st, err := os.ReadFile(path); err == nil {
			if rss, hwm, err := parseStatus(st); err == nil {
				b.mu.Lock()
				// VmHWM is the kernel's own peak, which also catches a
				// spike between two samples.
				b.peakRSS = max(b.peakRSS, rss, hwm)
				b.mu.Unlock()
			}
		}
		select {
		case <-b.stopSamp:
			return
		case <-b.exited:
			return
		case <-t.C:
		}
	}
}

// peak returns the largest RSS seen so far, in bytes.
func (b *brokerProc) peak() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peakRSS
}

// alive reports whether the broker process is still running.
func (b *brokerProc) alive() bool {
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

func (b *brokerProc) stop() {
	select {
	case <-b.stopSamp:
	default:
		close(b.stopSamp)
	}
	b.cmd.Process.Kill()
	<-b.exited
}

// parseStatus returns VmRSS and VmHWM of a /proc/<pid>/status text, in bytes.
func parseStatus(st []byte) (rss, hwm int64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(st))
	var found int
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("%s: unexpected value %q", key, val)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("VmRSS or VmHWM missing (a zombie or kernel thread?)")
	}
	return rss, hwm, nil
}

// tailBuffer keeps the last max bytes written to it (the broker's log,
// shown when something goes wrong) and counts the reasons of the
// "session closed" lines in it, digits folded to N: the broker's own
// account of whom it cut and why.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	b       []byte
	partial []byte
	reasons map[string]int
}

var _ io.Writer = (*tailBuffer)(nil)

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.countLine(t.partial[:i])
		t.partial = t.partial[i+1:]
	}
	t.partial = append([]byte(nil), t.partial...) // let the consumed prefix go
	return len(p), nil
}

func (t *tailBuffer) countLine(line []byte) {
	var l struct{ Message, Reason string }
	if json.Unmarshal(line, &l) != nil || l.Message != "session closed" || l.Reason == "" {
		return
	}
	if t.reasons == nil {
		t.reasons = map[string]int{}
	}
	t.reasons[foldDigits(l.Reason)]++
}

// foldDigits replaces each run of digits with N.
func foldDigits(s string) string {
	var b strings.Builder
	inRun := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !inRun {
				b.WriteByte('N')
			}
			inRun = true
			continue
		}
		inRun = false
		b.WriteRune(r)
	}
	return b.String()
}

// closeReasons summarizes the counted reasons, most frequent first.
func (t *tailBuffer) closeReasons() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := sortedKeys(t.reasons)
	slices.SortStableFunc(keys, func(a, b string) int { return t.reasons[b] - t.reasons[a] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%dx %q", t.reasons[k], k))
	}
	return strings.Join(parts, ", ")
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the CPU time (user and system) the broker has used so far.
func (b *brokerProc) cpuTime() (time.Duration, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(st)
}

// parseStatCPU returns utime+stime of a /proc/<pid>/stat line. The command
// name, in parentheses, may hold spaces, so fields count from the last ')'.
func parseStatCPU(st []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name in %q", st)
	}
	f := strings.Fields(string(st[i+1:]))
	// After the name: state (3), ..., utime (14), stime (15).
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
