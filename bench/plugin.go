package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// benchTopic is the topic msgtrans bench uses (its --topic default), given
// explicitly so that the plugin's line limit can account for it.
const benchTopic = "msgtrans.bench"

// pluginNote says how the plugin row's numbers differ from the in-process
// ones; it is printed under the table and carried by the rows in --json.
const pluginNote = "plugin: msgtrans through cmd/example-plugin's text protocol, measured by `msgtrans bench --server text://...` " +
	"(one process per scenario and run; nats-server has no such path). Differences from the other rows: " +
	"1 -> 1 and fan-out rates span first to last delivery rather than first publish to last delivery; " +
	"its publishers send SEND lines (no answer, like a plain native publish) and flush every 256 KiB with PING, which the plugin answers once the broker has them; request-reply warms up with one request instead of a tenth, " +
	"and its echo responder is in a queue group."

// msgtransBenchResult is the part of `msgtrans bench --json` (the
// benchResult of cmd/msgtrans/bench.go) that the table needs.
type msgtransBenchResult struct {
	Pub *struct {
		MsgsPerS float64 `json:"msgs_per_s"`
	} `json:"pub"`
	Sub *struct {
		MsgsPerS float64 `json:"msgs_per_s"`
		Expected uint64  `json:"expected"`
		Lost     uint64  `json:"lost"`
	} `json:"sub"`
	Latency *struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_us"`
}

// pluginScenario is one scenario of scenarios.go run by msgtrans bench:
// its arguments, and how to read the same quantities out of its result.
type pluginScenario struct {
	name    string
	metrics []metric
	args    []string
	values  func(msgtransBenchResult) ([]float64, error)
}

// pluginScenarios mirror scenarios(): the same message counts (the fan-out
// publishes half as many), and the same quantity for each metric.
//
//   - publish only: msgtrans bench's pub.msgs_per_s is messages published
//     from the first publish until the broker confirmed the last (a final
//     flush), as publishOnly measures. Its publisher also flushes every
//     256 KiB with one flush outstanding, which publishOnly does not, and
//     the example plugin publishes each PUB line with an ack (answering
//     +OK), where the SDK's Publish is fire-and-forget: a confirmed
//     publish per message is part of what this row measures.
//   - 1 -> 1 and fan-out: sub.msgs_per_s is messages received over all
//     subscribers, like fanout's, but over the span from the first message
//     received to the last, where fanout starts at the first publish; the
//     difference is one message's latency out of a run of seconds.
//   - request-reply: latency_us.p50/p99 in microseconds from an HDR
//     histogram, as requestReply; but msgtrans bench warms up with one
//     request (not a tenth more) and its responder echoes as a member of a
//     queue group rather than as a plain subscriber.
func pluginScenarios(msgs, reqs int) []pluginScenario {
	sub := func(r msgtransBenchResult) ([]float64, error) {
		if r.Sub == nil {
			return nil, fmt.Errorf("no \"sub\" in the result")
		}
		if r.Sub.Lost > 0 {
			return nil, fmt.Errorf("%d of %d messages lost", r.Sub.Lost, r.Sub.Expected)
		}
		return []float64{r.Sub.MsgsPerS}, nil
	}
	n := strconv.Itoa
	return []pluginScenario{
		{"publish only", []metric{mPublish}, []string{"--scenario", "pub", "--msgs", n(msgs)},
			func(r msgtransBenchResult) ([]float64, error) {
				if r.Pub == nil {
					return nil, fmt.Errorf("no \"pub\" in the result")
				}
				return []float64{r.Pub.MsgsPerS}, nil
			}},
		{"1 -> 1", []metric{mOneOne}, []string{"--scenario", "pubsub", "--msgs", n(msgs)}, sub},
		{"1 -> 4 fan-out", []metric{mFanout}, []string{"--scenario", "fanout", "--subs", "4", "--msgs", n(msgs / 2)}, sub},
		{"request-reply", []metric{mReqP50, mReqP99}, []string{"--scenario", "req", "--msgs", n(reqs)},
			func(r msgtransBenchResult) ([]float64, error) {
				if r.Latency == nil {
					return nil, fmt.Errorf("no \"latency_us\" in the result")
				}
				return []float64{r.Latency.P50, r.Latency.P99}, nil
			}},
	}
}

// pluginTransport measures msgtrans through the example plugin the broker
// launched: each scenario runs times as a `msgtrans bench` subprocess, and
// the medians are filed under the metric names of scenarios.go, with no
// nats-server value. Issue 6's target is 30% of msgtrans over TCP. Only the
// scenarios named in picked are run (it has no large-message rows).
func pluginTransport(srv *servers, msgs, reqs, size, runs int, picked map[string]bool, progress io.Writer) transport {
	return transport{name: "plugin", target: 0.30, note: pluginNote, measure: func() (medians, error) {
		if err := waitTCP(srv.pluginText); err != nil {
			return nil, err
		}
		common := []string{"bench", "--server", "text://" + srv.pluginText, "--topic", benchTopic,
			"--size", strconv.Itoa(size), "--json"}
		out := medians{}
		for _, sc := range pluginScenarios(msgs, reqs) {
			if !picked[sc.name] {
				continue
			}
			if !picked[sc.name] {
				continue
			}
			samples := make([][]float64, len(sc.metrics))
			for range runs {
				args := append(append([]string(nil), common...), sc.args...)
				vals, err := runMsgtransBench(srv.msgtransBin, args, sc.values)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", sc.name, err)
				}
				for m, v := range vals {
					samples[m] = append(samples[m], v)
				}
			}
			for m, met := range sc.metrics {
				med := median(samples[m])
				out[met.name] = values{&med, nil}
			}
			fmt.Fprintf(progress, "done: %s over plugin\n", sc.name)
		}
		return out, nil
	}}
}

// runMsgtransBench runs bin with args and reads its JSON result with
// values; a failure carries the command line and its stderr.
func runMsgtransBench(bin string, args []string, values func(msgtransBenchResult) ([]float64, error)) ([]float64, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	fail := func(err error) ([]float64, error) {
		var tail string
		if s := strings.TrimSpace(stderr.String()); s != "" {
			tail = "\nits stderr:\n" + s
		}
		return nil, fmt.Errorf("msgtrans %s: %w%s", strings.Join(args, " "), err, tail)
	}
	if err := cmd.Run(); err != nil {
		return fail(err)
	}
	var r msgtransBenchResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return fail(fmt.Errorf("reading its --json output %q: %w", strings.TrimSpace(stdout.String()), err))
	}
	vals, err := values(r)
	if err != nil {
		return fail(err)
	}
	return vals, nil
}
