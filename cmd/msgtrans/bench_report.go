package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// resultTable formats a result for people: one row per side (publish,
// receive), then latency or memory where the scenario measures them.
func resultTable(r *benchResult) string {
	var b strings.Builder
	if st := r.Idle; st != nil {
		before, after, per := "-", "-", "not measured (no --broker-pid)"
		if st.BrokerPID > 0 {
			before, after, per = humanBytes(float64(st.BrokerRSSBefore)), humanBytes(float64(st.BrokerRSSAfter)), humanBytes(st.BrokerPerConn)
		}
		head := []string{"scenario", "transport", "conns", "hold", "broker RSS before", "broker RSS after", "broker/conn"}
		row := []string{r.Scenario, r.Transport, strconv.Itoa(st.Conns), fmtDuration(time.Duration(st.HoldS * float64(time.Second))),
			before, after, per}
		if st.PluginPID > 0 {
			// Over text:// a session costs memory in the plugin too.
			head = append(head, "plugin RSS before", "plugin RSS after", "plugin/conn")
			row = append(row, humanBytes(float64(st.PluginRSSBefore)), humanBytes(float64(st.PluginRSSAfter)), humanBytes(st.PluginPerConn))
		}
		head = append(head, "client RSS/conn", "client heap/conn")
		row = append(row, humanBytes(st.ClientRSSPerConn), humanBytes(st.ClientHeapPerConn))
		writeTable(&b, "ll"+strings.Repeat("r", len(head)-2), [][]string{head, row})
		if r.Interrupted {
			b.WriteString("INTERRUPTED: partial results, up to the signal\n")
		}
		return b.String()
	}
	rows := [][]string{{"scenario", "transport", "side", "conns", "msgs", "size", "elapsed", "msgs/s", "MB/s", "lost"}}
	row := func(side string, conns int, rt rate, lost string) {
		rows = append(rows, []string{r.Scenario, r.Transport, side, strconv.Itoa(conns), humanRate(float64(rt.Msgs)),
			strconv.Itoa(r.Size), fmtDuration(time.Duration(rt.ElapsedS * float64(time.Second))),
			humanRate(rt.MsgsPerS), strconv.FormatFloat(rt.MBPerS, 'f', 2, 64), lost})
	}
	if r.Pub != nil {
		side := "pub"
		if r.Latency != nil {
			side = "req"
		}
		row(side, r.Publishers, r.Pub.rate, "-")
	}
	if r.Sub != nil {
		row("sub", r.Subscribers, r.Sub.rate, strconv.FormatUint(r.Sub.Lost, 10))
	}
	writeTable(&b, "lllrrrrrrr", rows)
	if l := r.Latency; l != nil {
		us := func(v float64) string { return fmtDuration(time.Duration(v * float64(time.Microsecond))) }
		b.WriteByte('\n')
		writeTable(&b, "lrrrrrrrr", [][]string{
			{"latency", "min", "p50", "p90", "p99", "p99.9", "max", "mean", "count"},
			{"round trip", us(l.Min), us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), us(l.Mean), strconv.FormatInt(l.Count, 10)},
		})
	}
	if r.Sub != nil && r.Sub.Lost > 0 {
		fmt.Fprintf(&b, "LOST %d of %d messages\n", r.Sub.Lost, r.Sub.Expected)
	}
	if r.Interrupted {
		b.WriteString("INTERRUPTED: partial results, up to the signal\n")
	}
	return b.String()
}

// writeTable writes rows in columns two spaces apart; align has one letter
// per column: l (left) or r (right).
func writeTable(b *strings.Builder, align string, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range rows {
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < len(align) && align[i] == 'r' {
				b.WriteString(pad + c)
			} else if i < len(row)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		b.WriteByte('\n')
	}
}

// fmtDuration rounds a duration to about four significant digits.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d >= 10*time.Microsecond:
		return d.Round(10 * time.Nanosecond).String()
	}
	return d.String()
}

func humanBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.2f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.2f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}
