package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/topics"
)

type subOptions struct {
	queue  string
	count  int
	raw    bool
	asJSON bool
}

func subCommand() *command {
	o := &subOptions{}
	return &command{
		name:    "sub",
		summary: "subscribe and print messages",
		usage:   "<filter> [flags]",
		help: `
Subscribes to filter (wildcards: "*" one token, ">" the remaining tokens) and
prints each message on stdout, one line each:

  [#1] orders.eu.created (retained) source=cli: {"id":1}

that is the message number, the topic, "(retained)" for a message from the
retained store, "(reply to <topic>)" for a request, the headers as key=value,
and the payload (shown as base64:... when it is not valid UTF-8). Control
characters in the payload and the headers are shown escaped (\n, \t, \x1b...)
so that each message stays on one line and cannot drive the terminal.
--raw prints only the payloads, exactly as received, each followed by a
newline; --json prints one object per line:

  {"topic":"orders.eu.created","headers":{"source":["cli"]},"data":"{\"id\":1}","encoding":"utf-8","retained":true}

where "encoding" is "base64" when the payload is not valid UTF-8 and data
holds it base64-encoded.

Runs until --count messages have arrived, or until Ctrl-C, which lets the
messages already received be printed (drain). A lost connection is retried
forever; notices go to stderr.

Examples:
  msgtrans sub 'orders.>'
  msgtrans sub --queue workers --count 10 --json jobs.new`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.queue, "queue", "", "join queue group `name`: each message goes to one member of the group")
			fs.IntVar(&o.count, "count", 0, "exit after `n` messages (0: run until Ctrl-C)")
			fs.BoolVar(&o.raw, "raw", false, "print only the payloads, one per line")
			fs.BoolVar(&o.asJSON, "json", false, "print one JSON object per message")
		},
		run: o.run,
	}
}

func (o *subOptions) run(ctx context.Context, e *env, _ *flag.FlagSet, cf *connFlags, args []string) error {
	if len(args) != 1 {
		return usagef("want one <filter>, got %d arguments", len(args))
	}
	if o.count < 0 {
		return usagef("--count must not be negative, got %d", o.count)
	}
	f, err := formatFlags(o.raw, o.asJSON)
	if err != nil {
		return err
	}
	return listen(ctx, e, cf, listenSpec{
		name: "msgtrans-sub", filter: args[0], queue: o.queue, count: o.count,
		handle: func(_ *sdk.Conn, n uint64, m *sdk.Msg) error { return writeMsg(e.stdout, f, n, m) },
	})
}

// listenSpec is what sub and reply have in common: one subscription whose
// messages go to handle, until count messages or the end of ctx.
type listenSpec struct {
	name          string // default connection name
	filter, queue string
	count         int // 0: no limit
	// handle is called for message n (from 1), one message at a time; an
	// error ends the command.
	handle func(nc *sdk.Conn, n uint64, m *sdk.Msg) error
}

// drainTimeout bounds the drain after Ctrl-C.
const drainTimeout = 5 * time.Second

// gate runs SDK callbacks and handlers until it is closed, and never
// after: the SDK may still call them after Close returns, and nothing may
// be written once the command has returned.
type gate struct {
	mu     sync.Mutex
	closed bool
}

func (g *gate) do(fn func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		fn()
	}
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

func listen(ctx context.Context, e *env, cf *connFlags, spec listenSpec) error {
	if err := topics.ValidateFilter(spec.filter); err != nil {
		return fmt.Errorf("subscribe to %s: invalid filter: %s", clip(spec.filter), topicReason(err))
	}
	var g gate
	defer g.close()
	fatal := make(chan error, 1)
	fail := func(err error) {
		select {
		case fatal <- err:
		default:
		}
	}
	var sub *sdk.Subscription
	subReady := make(chan struct{})
	nc, err := cf.connect(spec.name,
		sdk.MaxReconnects(-1),
		sdk.ErrorHandler(func(_ *sdk.Conn, s *sdk.Subscription, err error) {
			<-subReady
			g.do(func() {
				if s != nil && s == sub && !errors.Is(err, sdk.ErrSlowConsumer) {
					fail(fmt.Errorf("subscribe to %s: %w", clip(spec.filter), err))
					return
				}
				fmt.Fprintf(e.stderr, "msgtrans: warning: %s\n", oneLine(describe(err)))
			})
		}),
		sdk.DisconnectHandler(func(c *sdk.Conn, err error) {
			g.do(func() {
				if errors.Is(err, sdk.ErrAuth) {
					fail(fmt.Errorf("connection closed: %w", err))
					return
				}
				fmt.Fprintf(e.stderr, "msgtrans: connection lost (%s); reconnecting\n", oneLine(describe(err)))
			})
		}),
		sdk.ReconnectHandler(func(c *sdk.Conn) {
			g.do(func() { fmt.Fprintf(e.stderr, "msgtrans: reconnected to %s\n", c.ConnectedURL()) })
		}),
	)
	if err != nil {
		return err
	}
	defer nc.Close()

	done := make(chan struct{})
	var n uint64
	cb := func(m *sdk.Msg) {
		g.do(func() {
			if spec.count > 0 && n >= uint64(spec.count) {
				return
			}
			n++
			if err := spec.handle(nc, n, m); err != nil {
				fail(err)
				return
			}
			if spec.count > 0 && n == uint64(spec.count) {
				close(done)
			}
		})
	}
	if spec.queue != "" {
		sub, err = nc.QueueSubscribe(spec.filter, spec.queue, cb)
	} else {
		sub, err = nc.Subscribe(spec.filter, cb)
	}
	close(subReady)
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", clip(spec.filter), err)
	}
	if spec.count > 0 {
		if err := sub.AutoUnsubscribe(spec.count); err != nil {
			return fmt.Errorf("subscribe to %s: %w", clip(spec.filter), err)
		}
	}
	select {
	case <-done:
		return nil
	case err := <-fatal:
		return err
	case <-ctx.Done():
		if nc.ConnectedURL() == "" {
			return nil // reconnecting: nothing to drain
		}
		dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		if err := nc.Drain(dctx); err != nil && !errors.Is(err, sdk.ErrClosed) {
			// Stopping was asked for; say what may be missing, still exit 0.
			fmt.Fprintf(e.stderr, "msgtrans: warning: drain: %s\n", oneLine(describe(err)))
		}
		select {
		case err := <-fatal:
			return err
		default:
		}
		return nil
	}
}
