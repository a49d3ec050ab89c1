package main

import (
	"fmt"
	"io"
	"strings"
)

// row is one line of the table and one element of the --json array.
type row struct {
	Scenario  string `json:"scenario"`
	Transport string `json:"transport"` // tcp, ws, quic, plugin
	Unit      string `json:"unit"`
	// Values are the medians for msgtrans and nats-server, null where the
	// system was not measured (nats-server has no QUIC and no plugin).
	Values values   `json:"values"`
	Ratio  *float64 `json:"ratio"` // msgtrans / nats-server; null without both
	// VsTCP is msgtrans over this transport / msgtrans over TCP, on rows
	// other than TCP's when TCP was measured too.
	VsTCP *float64 `json:"msgtrans_vs_tcp,omitempty"`
	// TargetVsTCP is issue 6's lower bound for VsTCP, on throughput rows.
	TargetVsTCP   float64 `json:"target_vs_tcp,omitempty"`
	LowerIsBetter bool    `json:"lower_is_better"`
	// Note says how the transport's numbers were measured where that
	// differs from the others (the plugin rows).
	Note string `json:"note,omitempty"`
}

// buildRows lays the transports' results out by metric, then transport.
func buildRows(metrics []metric, ts []transport, results []medians) []row {
	var tcp medians
	for i, t := range ts {
		if t.name == "tcp" {
			tcp = results[i]
		}
	}
	var rows []row
	for _, m := range metrics {
		for i, t := range ts {
			v, ok := results[i][m.name]
			if !ok {
				continue
			}
			r := row{Scenario: m.name, Transport: t.name, Unit: m.unit, Values: v, LowerIsBetter: m.lowerBetter, Note: t.note}
			r.Ratio = div(v[0], v[1])
			if t.name != "tcp" && tcp != nil && !m.serverCost {
				r.VsTCP = div(v[0], tcp[m.name][0])
			}
			if !m.lowerBetter {
				r.TargetVsTCP = t.target
			}
			rows = append(rows, r)
		}
	}
	return rows
}

func div(a, b *float64) *float64 {
	if a == nil || b == nil || *b == 0 {
		return nil
	}
	q := *a / *b
	return &q
}

func printTable(w io.Writer, rows []row) {
	const format = "%-18s %-9s %10s %12s %7s  %-17s %s\n"
	fmt.Fprintf(w, format, "scenario", "transport", "msgtrans", "nats-server", "ratio", "msgtrans vs tcp", "unit")
	for _, r := range rows {
		vs := "-"
		if r.VsTCP != nil {
			vs = fmt.Sprintf("%.1f%%", 100**r.VsTCP)
			if r.TargetVsTCP > 0 {
				cmp := "<"
				if *r.VsTCP >= r.TargetVsTCP {
					cmp = ">="
				}
				vs += fmt.Sprintf(" %s %.0f%%", cmp, 100*r.TargetVsTCP)
			}
		}
		better := "higher is better"
		if r.LowerIsBetter {
			better = "lower is better"
		}
		fmt.Fprintf(w, format, r.Scenario, r.Transport, human(r.Values[0]), human(r.Values[1]),
			ratio(r.Ratio), vs, r.Unit+" ("+better+")")
	}
	noted := map[string]bool{}
	for _, r := range rows {
		if r.Note != "" && !noted[r.Note] {
			noted[r.Note] = true
			fmt.Fprintf(w, "\n%s\n", wrap(r.Note, 100))
		}
	}
}

func ratio(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *p)
}

func human(p *float64) string {
	if p == nil {
		return "-"
	}
	switch v := *p; {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

// wrap breaks text into lines of at most width bytes at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(text) {
		if i > 0 && n+1+len(word) > width {
			b.WriteByte('\n')
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}
