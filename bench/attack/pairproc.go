package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
)

// The pair runs in a process of its own, so that what it measures is the
// broker: not the attackers' garbage collection or their thousands of
// goroutines in the same Go runtime. Both processes still share the
// machine's cores with the broker, as clients on one host would.

// pairChildArg, as the first argument, makes this binary the pair.
const pairChildArg = "pair-child"

// pairReport is what the pair process prints when it is done, as JSON.
type pairReport struct {
	P50, P99, LateP99, Max, MaxAt time.Duration
	Sent, Lost                    uint64
	Disconnects                   int64
	Err                           string
}

// runPairChild is the pair process: it connects, prints "ready", publishes
// for --duration, and prints its pairReport.
func runPairChild(args []string) error {
	fs := flag.NewFlagSet(pairChildArg, flag.ContinueOnError)
	url := fs.String("url", "", "broker URL")
	rate := fs.Int("rate", 500, "messages per second")
	duration := fs.Duration("duration", 15*time.Second, "how long to publish")
	auth := fs.Bool("auth", false, "log in as the pair's user")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var opts []sdk.Option
	if *auth {
		opts = append(opts, sdk.UserInfo(pairUser, pairPassword))
	}
	p, err := startPair(*url, *rate, settle, opts...)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	p.publish(ctx)
	r := p.finish(3 * time.Second)
	rep := pairReport{P50: r.p50, P99: r.p99, LateP99: r.lateP99, Max: r.max, MaxAt: r.maxAt,
		Sent: r.sent, Lost: r.lost, Disconnects: r.disconnects}
	if r.err != nil {
		rep.Err = r.err.Error()
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// pairProc is the parent's handle on a running pair process.
type pairProc struct {
	cmd *exec.Cmd
	out *bufio.Scanner
}

// startPairProc starts the pair process and waits until it is connected
// and about to publish.
func startPairProc(url string, rate int, duration time.Duration, auth bool) (*pairProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{pairChildArg, "--url", url, "--rate", fmt.Sprint(rate), "--duration", duration.String()}
	if auth {
		args = append(args, "--auth")
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &pairProc{cmd: cmd, out: bufio.NewScanner(stdout)}
	ready := make(chan bool, 1)
	go func() { ready <- p.out.Scan() && p.out.Text() == "ready" }()
	select {
	case ok := <-ready:
		if ok {
			return p, nil
		}
	case <-time.After(30 * time.Second):
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, errors.New("the pair process did not connect (its error is above)")
}

// result waits for the pair process's report.
func (p *pairProc) result(timeout time.Duration) (pairResult, error) {
	done := make(chan error, 1)
	var rep pairReport
	go func() {
		if !p.out.Scan() {
			done <- errors.New("the pair process ended without a report (its error is above)")
			return
		}
		done <- json.Unmarshal(p.out.Bytes(), &rep)
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		err = errors.New("the pair process did not report in time")
		p.cmd.Process.Kill()
	}
	p.cmd.Wait()
	if err != nil {
		return pairResult{}, err
	}
	r := pairResult{p50: rep.P50, p99: rep.P99, lateP99: rep.LateP99, max: rep.Max, maxAt: rep.MaxAt,
		sent: rep.Sent, lost: rep.Lost, disconnects: rep.Disconnects}
	if rep.Err != "" {
		r.err = errors.New(rep.Err)
	}
	return r, nil
}
