// Command msgtrans is the command-line client of the msgtrans broker:
// publish, subscribe, request, reply and benchmark. Run `msgtrans help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks the command to finish (sub and reply drain); a
	// second one ends the process at once, the default way.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
