// Package text is a line-oriented text protocol over TCP that a person can
// speak with nc or telnet, written against sdk/plugin. It runs linked into
// the broker (plugins: - builtin: text) or as a plugin process
// (cmd/example-plugin). It is the example to copy when writing a protocol;
// docs/plugins.md walks through it.
//
//	SUB <topic> [queue]    subscribe (wildcards * and >), optionally in a queue group
//	UNSUB <topic>          unsubscribe
//	PUB <topic> <payload>  publish (payload: the rest of the line); +OK once the broker has it
//	SEND <topic> <payload> publish without an answer (fire and forget, the fast way)
//	REQ <topic> <payload>  request; answered with REPLY <payload> or -ERR no responders
//	PING                   answered with PONG once the broker has everything sent before
//
// The protocol answers +OK or -ERR <reason> to each command but SEND, in
// command order, and sends MSG <topic> <payload> for each message, or
// REQUEST <topic> <reply> <payload> for a request, which the client answers
// with PUB or SEND <reply> <answer>. A SEND the broker refuses (or the
// request of a REQ, which then times out) is reported as ERROR <reason>, a
// line that answers no command; every such line for the commands before a
// PING comes before its PONG.
// Settings: listen (default 127.0.0.1:7001), token (credentials for the
// broker, if it requires them), max_line (bytes, default 65536).
package text

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// Protocol is the text protocol, a plugin.Plugin.
type Protocol struct{}

// Serve implements plugin.Plugin.
func (Protocol) Serve(ctx context.Context, h *plugin.Host) error {
	maxLine, err := strconv.Atoi(h.Setting("max_line", "65536"))
	if err != nil || maxLine < 64 {
		return fmt.Errorf("setting max_line: want a number of bytes >= 64, got %q", h.Setting("max_line", ""))
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", h.Setting("listen", "127.0.0.1:7001"))
	if err != nil {
		return err
	}
	h.Ready("listening on " + ln.Addr().String())
	h.Logger().Info("text protocol listening", "addr", ln.Addr().String())

	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			h.Logger().Warn("accept failed", "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveClient(ctx, h, c, maxLine)
		}()
	}
}
