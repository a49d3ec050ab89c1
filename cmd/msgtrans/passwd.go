package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

const passwdHelp = `Usage: msgtrans passwd [--cost n]

Reads a password and prints its bcrypt hash, for the password of a user in
the broker's auth.users. The password is never taken from the command line
(it would stay in the shell history and show in ps): on a terminal it is
asked twice without echo, otherwise it is the first line of stdin.

Examples:
  msgtrans passwd
  echo "$PASSWORD" | msgtrans passwd

Flags:
`

// runPasswd is "msgtrans passwd". It connects to nothing, so it takes none
// of the connection flags.
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("msgtrans passwd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt `cost` (4 to 31); each step doubles the time of a login check")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, passwdHelp)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK
	}
	switch {
	case err != nil:
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q: the password is read from stdin, never from the command line", fs.Arg(0))
	case *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost:
		err = fmt.Errorf("--cost %d is not between %d and %d", *cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if err != nil {
		fmt.Fprintf(stderr, "msgtrans: passwd: %s (see 'msgtrans passwd -h')\n", err)
		return exitUsage
	}
	pw, err := readPassword(stdin, stderr)
	if err == nil {
		var h []byte
		if h, err = bcrypt.GenerateFromPassword(pw, *cost); err == nil {
			fmt.Fprintln(stdout, string(h))
			return exitOK
		}
	}
	fmt.Fprintf(stderr, "msgtrans: passwd: %s\n", err)
	return exitRuntime
}

func readPassword(stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if f, ok := stdin.(*os.File); ok && fileIsTerminal(f) {
		pw, err := promptNoEcho(f, stderr, "Password: ")
		if err != nil {
			return nil, err
		}
		again, err := promptNoEcho(f, stderr, "Again: ")
		if err != nil {
			return nil, err
		}
		if string(pw) != string(again) {
			return nil, errors.New("the passwords do not match")
		}
		return checkPassword(pw)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return nil, errors.New("no password on stdin")
	}
	return checkPassword([]byte(strings.TrimRight(line, "\r\n")))
}

func checkPassword(pw []byte) ([]byte, error) {
	switch {
	case len(pw) == 0:
		return nil, errors.New("empty password")
	case len(pw) > 72:
		// bcrypt ignores what follows: a longer password would be a
		// weaker one than it looks.
		return nil, fmt.Errorf("the password is %d bytes; bcrypt uses at most 72", len(pw))
	}
	return pw, nil
}

// promptNoEcho reads a line from the terminal f with echo turned off.
func promptNoEcho(f *os.File, stderr io.Writer, prompt string) ([]byte, error) {
	fmt.Fprint(stderr, prompt)
	defer fmt.Fprintln(stderr)
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	var line []byte
	var b [1]byte
	for {
		n, err := f.Read(b[:])
		if n == 1 && b[0] != '\n' {
			line = append(line, b[0])
			continue
		}
		if n == 1 || errors.Is(err, io.EOF) {
			return []byte(strings.TrimRight(string(line), "\r")), nil
		}
		if err != nil {
			return nil, err
		}
	}
}
