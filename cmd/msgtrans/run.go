package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// command is one subcommand: its flags are registered on a FlagSet of its
// own, next to the connection flags every command shares.
type command struct {
	name    string
	summary string
	usage   string // the first line: arguments
	help    string // what it does, examples
	run     func(ctx context.Context, e *env, fs *flag.FlagSet, cf *connFlags, args []string) error
	flags   func(fs *flag.FlagSet) // registers the command's own flags; run reads them back through fs
	noConn  bool                   // it does not connect to the broker: no connection flags (cf is nil)
}

func commands() []*command {
	return []*command{pubCommand(), subCommand(), reqCommand(), replyCommand(), benchCommand(), serverCommand()}
}

const overview = `msgtrans is the command-line client of the msgtrans broker.

Usage:
  msgtrans <command> [arguments] [flags]

Commands:
%s  passwd print a bcrypt hash of a password read from stdin, for auth.users

Every command but server (which reads the monitoring endpoint over HTTP)
and passwd accepts the connection flags:
%s
Flags may come before or after the arguments; put "--" before an argument
that starts with "-". Run "msgtrans <command> -h" for a command's flags.

Exit status: 0 on success, 1 when something failed at run time (the broker
could not be reached, refused a message, no responders...), 2 for a usage
error. Errors are one line on stderr starting with "msgtrans: ".
`

// env is what a command writes to; both writers are safe for concurrent
// use, since callbacks and handlers run on SDK goroutines.
type env struct {
	stdout io.Writer
	stderr io.Writer
	errTTY bool // stderr is a terminal: progress may be drawn there
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// run is the whole program: main only adds the process around it, so tests
// call run with buffers.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var mu sync.Mutex // one lock: lines to stdout and stderr never interleave mid-line
	e := &env{
		stdout: lockedWriter{&mu, stdout},
		stderr: lockedWriter{&mu, stderr},
		errTTY: isTerminal(stderr),
	}
	cmds := commands()
	if len(args) == 0 {
		fmt.Fprint(e.stderr, overviewText(cmds))
		return exitUsage
	}
	name := args[0]
	switch name {
	case "version", "-version", "--version":
		fmt.Fprintln(e.stdout, "msgtrans", version)
		return exitOK
	case "passwd":
		return runPasswd(args[1:], os.Stdin, e.stdout, e.stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			c := find(cmds, args[1])
			if c == nil {
				fmt.Fprintf(e.stderr, "msgtrans: unknown command %q (see 'msgtrans help')\n", args[1])
				return exitUsage
			}
			fs, _ := newFlagSet(c)
			fmt.Fprint(e.stdout, commandHelp(c, fs))
			return exitOK
		}
		fmt.Fprint(e.stdout, overviewText(cmds))
		return exitOK
	}
	c := find(cmds, name)
	if c == nil {
		fmt.Fprintf(e.stderr, "msgtrans: unknown command %q (see 'msgtrans help')\n", name)
		return exitUsage
	}
	fs, cf := newFlagSet(c)
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, commandHelp(c, fs))
		return exitOK
	}
	if err == nil {
		err = c.run(ctx, e, fs, cf, pos)
	}
	return report(e, c.name, err)
}

// report prints err as one line and turns it into an exit status.
func report(e *env, cmd string, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "msgtrans: %s: %s (see 'msgtrans %s -h')\n", cmd, clipLine(oneLine(ue.msg)), cmd)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "msgtrans: %s\n", clipLine(oneLine(describe(err))))
	return exitRuntime
}

func find(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

func newFlagSet(c *command) (*flag.FlagSet, *connFlags) {
	fs := flag.NewFlagSet("msgtrans "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, help by commandHelp
	c.flags(fs)
	if c.noConn {
		return fs, nil
	}
	cf := registerConnFlags(fs)
	return fs, cf
}

// parseInterspersed parses flags wherever they appear among the
// positional arguments; everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return append(pos, rest...), nil
}

// isSet reports whether the flag was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func overviewText(cmds []*command) string {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-6s %s\n", c.name, c.summary)
	}
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	registerConnFlags(fs)
	return fmt.Sprintf(overview, b.String(), flagList(fs, func(string) bool { return true }))
}

func commandHelp(c *command, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: msgtrans %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.help))
	own := flagList(fs, func(n string) bool { return c.noConn || !connFlagNames[n] })
	if own != "" {
		fmt.Fprintf(&b, "\nFlags:\n%s", own)
	}
	if !c.noConn {
		fmt.Fprintf(&b, "\nConnection flags:\n%s", flagList(fs, func(n string) bool { return connFlagNames[n] }))
	}
	return b.String()
}

// flagList formats the flags that keep selects, like PrintDefaults but
// with the "--" spelling used in this tool's help.
func flagList(fs *flag.FlagSet, keep func(string) bool) string {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		if !keep(f.Name) {
			return
		}
		typ, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  --%s", f.Name)
		if typ != "" {
			fmt.Fprintf(&b, " %s", typ)
		}
		fmt.Fprintf(&b, "\n      %s", strings.ReplaceAll(usage, "\n", "\n      "))
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" && f.DefValue != "[]" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteByte('\n')
	})
	return b.String()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && fileIsTerminal(f)
}
