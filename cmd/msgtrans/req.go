package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/topics"
)

type reqOptions struct {
	timeout time.Duration
	headers headerFlag
}

func reqCommand() *command {
	o := &reqOptions{}
	return &command{
		name:    "req",
		summary: "send a request and print the reply",
		usage:   "<topic> <data> [flags]",
		help: `
Publishes data to topic with a reply topic in this connection's inbox, waits
for the first reply and prints its payload followed by a newline.

When nothing subscribes to topic the broker says so at once and the command
fails with "no responders"; when no reply comes within --timeout it fails
too (exit status 1 in both cases).

Examples:
  msgtrans req svc.time ''
  msgtrans req --timeout 1s --header trace=abc svc.echo hello`,
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long to wait for a reply")
			fs.Var(&o.headers, "header", "add a header `key=value` to the request (repeatable)")
		},
		run: o.run,
	}
}

func (o *reqOptions) run(ctx context.Context, e *env, _ *flag.FlagSet, cf *connFlags, args []string) error {
	if len(args) != 2 {
		return usagef("want <topic> <data>, got %d arguments", len(args))
	}
	if o.timeout <= 0 {
		return usagef("--timeout must be positive, got %v", o.timeout)
	}
	topic, data := args[0], args[1]
	// The broker refuses a bad topic with an ERR the request would not
	// see: it would wait the whole timeout. Say it at once instead.
	if err := topics.ValidatePublish(topic); err != nil {
		return fmt.Errorf("request on %s: invalid topic: %s", clip(topic), topicReason(err))
	}
	nc, err := cf.connect("msgtrans-req", sdk.MaxReconnects(0))
	if err != nil {
		return err
	}
	defer nc.Close()
	rctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	resp, err := nc.RequestMsg(rctx, &sdk.Msg{Topic: topic, Data: []byte(data), Header: o.headers.h})
	switch {
	case errors.Is(err, sdk.ErrNoResponders):
		return fmt.Errorf("no responders on %s: nothing subscribes to it", clip(topic))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no reply on %s within %v", clip(topic), o.timeout)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("request on %s interrupted", clip(topic))
	case err != nil:
		return fmt.Errorf("request on %s: %w", clip(topic), err)
	}
	out := append(resp.Data, '\n')
	_, err = e.stdout.Write(out)
	return err
}
