package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/msgtrans/msgtrans/sdk"
)

type replyOptions struct {
	queue   string
	count   int
	quiet   bool
	headers headerFlag
}

func replyCommand() *command {
	o := &replyOptions{}
	return &command{
		name:    "reply",
		summary: "answer requests with fixed data",
		usage:   "<filter> <data> [flags]",
		help: `
Subscribes to filter and answers every request (a message with a reply topic)
with data, in which "{{topic}}" is replaced by the request's topic and
"{{data}}" by its payload. Messages without a reply topic are printed and
left unanswered. Each request is printed on stdout like "msgtrans sub" does,
unless --quiet.

With --queue, several "msgtrans reply" processes share the requests, one
answer each. Runs until --count requests, or until Ctrl-C (drain).

Examples:
  msgtrans reply svc.echo 'echo: {{data}}'
  msgtrans reply --queue time svc.time "$(date)"`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.queue, "queue", "", "join queue group `name` so that responders share the requests")
			fs.IntVar(&o.count, "count", 0, "exit after `n` messages (0: run until Ctrl-C)")
			fs.BoolVar(&o.quiet, "quiet", false, "do not print the requests")
			fs.Var(&o.headers, "header", "add a header `key=value` to every answer (repeatable)")
		},
		run: o.run,
	}
}

func (o *replyOptions) run(ctx context.Context, e *env, _ *flag.FlagSet, cf *connFlags, args []string) error {
	if len(args) != 2 {
		return usagef("want <filter> <data>, got %d arguments", len(args))
	}
	if o.count < 0 {
		return usagef("--count must not be negative, got %d", o.count)
	}
	filter, data := args[0], args[1]
	templated := strings.Contains(data, "{{topic}}") || strings.Contains(data, "{{data}}")
	return listen(ctx, e, cf, listenSpec{
		name: "msgtrans-reply", filter: filter, queue: o.queue, count: o.count,
		handle: func(nc *sdk.Conn, n uint64, m *sdk.Msg) error {
			if !o.quiet {
				if err := writeMsg(e.stdout, formatText, n, m); err != nil {
					return err
				}
			}
			if m.Reply == "" {
				return nil
			}
			answer := data
			if templated {
				answer = strings.NewReplacer("{{topic}}", m.Topic, "{{data}}", string(m.Data)).Replace(data)
			}
			if err := nc.PublishMsg(&sdk.Msg{Topic: m.Reply, Data: []byte(answer), Header: o.headers.h}); err != nil {
				fmt.Fprintf(e.stderr, "msgtrans: warning: answer to %s: %s\n", clip(m.Reply), oneLine(describe(err)))
			}
			return nil
		},
	})
}
