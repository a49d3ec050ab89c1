package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
)

type pubOptions struct {
	count   int
	retain  bool
	ttl     time.Duration
	ack     bool
	headers headerFlag
	timeout time.Duration
}

func pubCommand() *command {
	o := &pubOptions{}
	return &command{
		name:    "pub",
		summary: "publish a message",
		usage:   "<topic> <data> [flags]",
		help: `
Publishes data to topic (no wildcards). Prints nothing on success, except a
one-line summary when --count is over 1.

With --count N the message is published N times and "{{i}}" in data is
replaced by the message's index, 0 to N-1. With --ack each message waits for
the broker's confirmation and a refusal (bad topic, payload too large, not
permitted, retained store full...) fails the command with the broker's
reason; without --ack the command still waits until the broker has processed
everything, but a refusal is only reported if it arrives before exit.

An empty data with --retain deletes the topic's retained message; --ttl makes
a retained message expire (it is then neither delivered nor kept).

Examples:
  msgtrans pub orders.eu.created '{"id":1}'
  msgtrans pub --retain --header source=cli config.eu on
  msgtrans pub --count 1000 --ack jobs.new 'job {{i}}'`,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&o.count, "count", 1, "publish the message `n` times; {{i}} in data is replaced by the index")
			fs.BoolVar(&o.retain, "retain", false, "keep the message as the topic's retained message")
			fs.DurationVar(&o.ttl, "ttl", 0, "with --retain: forget the retained message after this `duration` (e.g. 10m)")
			fs.Var(&o.headers, "header", "add a header `key=value` (repeatable)")
			fs.BoolVar(&o.ack, "ack", false, "wait for the broker to confirm each message; fail on refusal")
			fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long to wait for each confirmation and the final flush")
		},
		run: o.run,
	}
}

func (o *pubOptions) run(ctx context.Context, e *env, _ *flag.FlagSet, cf *connFlags, args []string) error {
	if len(args) != 2 {
		return usagef("want <topic> <data>, got %d arguments", len(args))
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
	topic, data := args[0], args[1]
	asyncErr := make(chan error, 1)
	nc, err := cf.connect("msgtrans-pub", sdk.MaxReconnects(0), sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) {
		select {
		case asyncErr <- err:
		default:
		}
	}))
	if err != nil {
		return err
	}
	defer nc.Close()

	templated := strings.Contains(data, "{{i}}")
	start := time.Now()
	for i := range o.count {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted after %d of %d messages", i, o.count)
		}
		m := &sdk.Msg{Topic: topic, Data: []byte(data), Header: o.headers.h, Retain: o.retain, TTL: o.ttl}
		if templated {
			m.Data = []byte(strings.ReplaceAll(data, "{{i}}", strconv.Itoa(i)))
		}
		if o.ack {
			actx, cancel := context.WithTimeout(ctx, o.timeout)
			err = nc.PublishAck(actx, m)
			cancel()
		} else {
			err = nc.PublishMsg(m)
		}
		if err != nil {
			return pubError(topic, i, o.count, err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, o.timeout)
	err = nc.Flush(fctx)
	cancel()
	if err != nil {
		return fmt.Errorf("publish to %q: broker did not confirm processing: %w", topic, err)
	}
	select {
	case err := <-asyncErr:
		return fmt.Errorf("publish to %q: %w", topic, err)
	default:
	}
	if o.count > 1 {
		el := time.Since(start)
		fmt.Fprintf(e.stdout, "published %d messages to %s in %v (%s msgs/s)\n",
			o.count, topic, el.Round(time.Microsecond), humanRate(float64(o.count)/el.Seconds()))
	}
	return nil
}

func pubError(topic string, i, count int, err error) error {
	if count == 1 {
		return fmt.Errorf("publish to %q: %w", topic, err)
	}
	return fmt.Errorf("publish %d of %d to %q: %w", i+1, count, topic, err)
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
