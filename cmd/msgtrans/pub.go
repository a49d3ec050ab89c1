package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/topics"
)

type pubOptions struct {
	count   int
	retain  bool
	ttl     time.Duration
	ack     bool
	headers headerFlag
	timeout time.Duration
	file    string
}

func pubCommand() *command {
	o := &pubOptions{}
	return &command{
		name:    "pub",
		summary: "publish a message",
		usage:   "<topic> [<data>] [flags]",
		help: `
Publishes data to topic (no wildcards). Prints nothing on success, except a
one-line summary when --count is over 1.

Without a data argument the payload is read from standard input, up to its
end (like mosquitto_pub -s); --file reads it from a file ("-": standard
input). Both are taken byte for byte, binary included, up to the broker's
max payload.

The command exits only once the broker has answered for every message, so
a refusal (bad topic, payload too large, not permitted, retained store
full...) always fails it (exit status 1) with the broker's reason. Messages
are sent without waiting for each other; --ack sends each one only after
the broker confirmed the previous one.

With --count N the message is published N times and "{{i}}" in the data
argument is replaced by the message's index, 0 to N-1.

An empty data with --retain deletes the topic's retained message; --ttl makes
a retained message expire (it is then neither delivered nor kept).

Examples:
  msgtrans pub orders.eu.created '{"id":1}'
  msgtrans pub --retain --header source=cli config.eu on
  msgtrans pub --count 1000 --ack jobs.new 'job {{i}}'
  msgtrans pub --file firmware.bin devices.update
  echo '{"id":2}' | msgtrans pub orders.eu.created`,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&o.count, "count", 1, "publish the message `n` times; {{i}} in data is replaced by the index")
			fs.BoolVar(&o.retain, "retain", false, "keep the message as the topic's retained message")
			fs.DurationVar(&o.ttl, "ttl", 0, "with --retain: forget the retained message after this `duration` (e.g. 10m)")
			fs.Var(&o.headers, "header", "add a header `key=value` (repeatable)")
			fs.BoolVar(&o.ack, "ack", false, "wait for the broker to confirm each message; fail on refusal")
			fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long to wait for each confirmation (with --ack) or for all of them")
			fs.StringVar(&o.file, "file", "", "read the payload from `file` (\"-\": standard input) instead of the data argument")
		},
		run: o.run,
	}
}

func (o *pubOptions) run(ctx context.Context, e *env, _ *flag.FlagSet, cf *connFlags, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return usagef("want <topic> [<data>], got %d arguments", len(args))
	}
	if len(args) == 2 && o.file != "" {
		return usagef("give the data as an argument or with --file, not both")
	}
	if o.ttl < 0 || (o.ttl > 0 && !o.retain) {
		return usagef("--ttl needs --retain and a positive duration")
	}
	if o.count < 1 {
		return usagef("--count must be at least 1, got %d", o.count)
	}
	if o.timeout <= 0 {
		return usagef("--timeout must be positive, got %v", o.timeout)
	}
	topic := args[0]
	// What the broker would refuse anyway is refused before connecting.
	if err := topics.ValidatePublish(topic); err != nil {
		return fmt.Errorf("publish to %s: invalid topic: %s", clip(topic), topicReason(err))
	}
	var file *os.File
	if o.file != "" && o.file != "-" {
		// A missing file is reported before anything is sent; it is read
		// once the broker said how large a payload may be.
		f, err := os.Open(o.file)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		file = f
	}
	nc, err := cf.connect("msgtrans-pub", sdk.MaxReconnects(0))
	if err != nil {
		return err
	}
	defer nc.Close()

	var data []byte
	templated := false
	switch {
	case len(args) == 2:
		data = []byte(args[1])
		templated = strings.Contains(args[1], "{{i}}")
	case o.file == "" || o.file == "-":
		if fileIsTerminal(os.Stdin) {
			// Someone who forgot the data argument would otherwise see a
			// command that hangs.
			fmt.Fprintln(e.stderr, "msgtrans: reading the payload from standard input; end it with Ctrl-D")
		}
		data, err = readPayload(os.Stdin, "standard input", nc.MaxPayload())
	default:
		data, err = readPayload(file, o.file, nc.MaxPayload())
	}
	if err != nil {
		return err
	}

	start := time.Now()
	var w ackWaiter
	for i := range o.count {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted after %d of %d messages", i, o.count)
		}
		m := &sdk.Msg{Topic: topic, Data: data, Header: o.headers.h, Retain: o.retain, TTL: o.ttl}
		if templated {
			m.Data = []byte(strings.ReplaceAll(string(data), "{{i}}", strconv.Itoa(i)))
		}
		if o.ack {
			actx, cancel := context.WithTimeout(ctx, o.timeout)
			err = nc.PublishAck(actx, m)
			cancel()
		} else {
			// Every message asks for an answer, so that a refusal is
			// reported however soon the command would otherwise exit.
			err = w.publish(nc, i, m)
		}
		if err != nil {
			return pubError(topic, i, o.count, err)
		}
	}
	if err := w.wait(ctx, o.timeout); err != nil {
		return fmt.Errorf("publish to %s: %w", clip(topic), err)
	}
	if i, err := w.firstRefusal(); err != nil {
		return pubError(topic, i, o.count, err)
	}
	if o.count > 1 {
		el := time.Since(start)
		fmt.Fprintf(e.stdout, "published %d messages to %s in %v (%s msgs/s)\n",
			o.count, topic, el.Round(time.Microsecond), humanRate(float64(o.count)/el.Seconds()))
	}
	return nil
}

// readPayload reads all of r, refusing more than max bytes (the broker's
// max payload) without reading further.
func readPayload(r io.Reader, name string, max int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("read the payload from %s: %w", name, err)
	}
	if len(data) > max {
		return nil, fmt.Errorf("the payload in %s is over the broker's max payload of %d bytes", name, max)
	}
	return data, nil
}

// ackWaiter keeps count of confirmed publishes in flight and remembers the
// first refusal.
type ackWaiter struct {
	mu      sync.Mutex
	pending int
	idle    chan struct{} // closed when pending drops to 0 after wait began
	refused error
	at      int
}

func (w *ackWaiter) publish(nc *sdk.Conn, i int, m *sdk.Msg) error {
	w.mu.Lock()
	w.pending++
	w.mu.Unlock()
	err := nc.PublishAckAsync(m, func(err error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil && w.refused == nil {
			w.refused, w.at = err, i
		}
		if w.pending--; w.pending == 0 && w.idle != nil {
			close(w.idle)
		}
	})
	if err != nil {
		w.mu.Lock()
		w.pending--
		w.mu.Unlock()
	}
	return err
}

// wait returns once every answer has arrived, or fails after timeout.
func (w *ackWaiter) wait(ctx context.Context, timeout time.Duration) error {
	w.mu.Lock()
	if w.pending == 0 {
		w.mu.Unlock()
		return nil
	}
	w.idle = make(chan struct{})
	idle, n := w.idle, w.pending
	w.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-idle:
		return nil
	case <-t.C:
		return fmt.Errorf("the broker did not answer for %d messages within %v", n, timeout)
	case <-ctx.Done():
		return errors.New("interrupted before the broker answered for every message")
	}
}

func (w *ackWaiter) firstRefusal() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.at, w.refused
}

// topicReason is a topics validation error without the package prefix and
// the topic, which the caller prints itself.
func topicReason(err error) string {
	s := strings.TrimPrefix(err.Error(), "topics: ")
	if i := strings.Index(s, ": \""); i >= 0 {
		s = s[:i]
	}
	return s
}

func pubError(topic string, i, count int, err error) error {
	if count == 1 {
		return fmt.Errorf("publish to %s: %w", clip(topic), err)
	}
	return fmt.Errorf("publish %d of %d to %s: %w", i+1, count, clip(topic), err)
}

// humanRate formats a rate with thousands separators and no decimals.
func humanRate(r float64) string {
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return "-"
	}
	s := strconv.FormatFloat(r, 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
