package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one attack's measurements.
type row struct {
	attack  string
	peakRSS int64
	cpu     float64 // broker CPU time over the attack's wall time (1 = one core)
	pair    pairResult
	alive   bool
	verdict string
	note    string
}

// verdict checks a row against the targets of issue 14 and names every
// target missed.
func verdict(r row, budget int64, p99 time.Duration) string {
	var miss []string
	if !r.alive {
		miss = append(miss, "broker died")
	}
	if r.peakRSS >= budget {
		miss = append(miss, "RSS over budget")
	}
	if r.pair.p99 >= p99 {
		miss = append(miss, "p99 over "+p99.String())
	}
	if r.pair.lost > 0 {
		miss = append(miss, "lost messages")
	}
	if r.pair.disconnects > 0 {
		miss = append(miss, "pair disconnected")
	}
	if r.pair.err != nil {
		miss = append(miss, "pair publish failed: "+r.pair.err.Error())
	}
	if r.pair.sent == 0 {
		miss = append(miss, "pair sent nothing")
	}
	if len(miss) == 0 {
		return "pass"
	}
	return "FAIL: " + strings.Join(miss, ", ")
}

// printTable writes the rows as a Markdown table, then the attacks' notes.
func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "| attack\t| peak RSS\t| broker CPU\t| pair p50\t| p99\t| p99 from 3 s\t| max\t| sent\t| lost\t| verdict\t|")
	fmt.Fprintln(tw, "|---\t|--:\t|--:\t|--:\t|--:\t|--:\t|--:\t|--:\t|--:\t|---\t|")
	for _, r := range rows {
		fmt.Fprintf(tw, "| %s\t| %s\t| %.0f%%\t| %s\t| %s\t| %s\t| %s\t| %d\t| %d\t| %s\t|\n", r.attack, formatSize(r.peakRSS), 100*r.cpu,
			formatDur(r.pair.p50), formatDur(r.pair.p99), formatDur(r.pair.lateP99), formatDur(r.pair.max), r.pair.sent, r.pair.lost, r.verdict)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "- %s: %s\n", r.attack, r.note)
	}
}

func formatDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
	}
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + " GiB"
	default:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
}

// parseSize reads a size such as 512MiB, 1GiB or 1073741824.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("%q is not a positive size (512MiB, 1GiB)", s)
			}
			return n * u.mult, nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size (512MiB, 1GiB)", s)
	}
	return n, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
