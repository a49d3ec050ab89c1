package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

// connectError turns the SDK's "no server could be reached" into one line
// per URL tried: the URL, the likely cause in words, then the bare error
// in parentheses for whoever wants the detail. A user who typed the port of
// another transport gets told so, rather than reading "EOF".
func connectError(err error) error {
	perURL := urlErrors(err)
	if len(perURL) == 0 {
		return err
	}
	parts := make([]string, 0, len(perURL))
	for _, e := range perURL {
		parts = append(parts, explainURLError(e))
	}
	return errors.New("cannot connect: " + strings.Join(parts, "; "))
}

// urlErrors digs the per-URL errors ("<url>: <cause>") out of the SDK's
// ErrNoServers, which joins them.
func urlErrors(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil
	}
	for _, e := range j.Unwrap() {
		if e == sdk.ErrNoServers {
			continue
		}
		if jj, ok := e.(interface{ Unwrap() []error }); ok {
			return jj.Unwrap()
		}
		return []error{e}
	}
	return nil
}

// explainURLError says what connecting to one URL ran into.
func explainURLError(err error) string {
	text := describe(err)
	raw, detail, ok := strings.Cut(text, ": ")
	u, perr := url.Parse(raw)
	if !ok || perr != nil || u.Host == "" {
		return text
	}
	hint := hintFor(u, err)
	if hint == "" {
		return text
	}
	return raw + ": " + hint + " (" + detail + ")"
}

// hintFor names the likely cause of err, met connecting to u, or "".
func hintFor(u *url.URL, err error) string {
	host := u.Host
	var se *sdk.ServerError
	var rh tls.RecordHeaderError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ne net.Error
	msg := err.Error()
	handshake := strings.Contains(msg, "handshake: ")
	switch {
	case errors.As(err, &se):
		return "" // the broker answered; describe says what it refused
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing is listening on " + host + " (is the broker running, and is this its " + u.Scheme + " port?)"
	case errors.As(err, &ua) || strings.Contains(msg, "certificate signed by unknown authority"):
		if u.Scheme == "quic" {
			return "the broker's QUIC certificate is not trusted: for the self-signed certificate the broker generates, pass --pin with the sha256 it logs at start (or --ca for a certificate from your CA)"
		}
		return "the server's certificate is not trusted: pass --ca with the CA that signed it, or --pin with its sha256"
	case errors.As(err, &hn) || strings.Contains(msg, "certificate is valid for"):
		return "the server's certificate is for another name: use that name in the URL, or --server-name"
	case errors.As(err, &rh) || strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "the server on " + host + " does not speak TLS: use " + plainScheme(u.Scheme) + "://, or the broker's TLS port"
	case strings.Contains(msg, "malformed HTTP response"):
		return "the server on " + host + " is not an HTTP/WebSocket server: the msgtrans TCP port takes tcp:// (tls:// with TLS)"
	case strings.Contains(msg, "unexpected HTTP response status: 404"):
		return "no WebSocket endpoint at " + u.Path + " on " + host + " (the broker serves /ws unless configured otherwise)"
	case strings.Contains(msg, "did not accept subprotocol"):
		return "the server on " + host + " is a WebSocket server but not a msgtrans broker"
	case u.Scheme == "quic" && (errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "timeout")):
		return "no QUIC server answered on " + host + " (UDP) within --connect-timeout: nothing is listening there, a firewall drops UDP, or it is a TCP port (use tcp://, tls://, ws:// or wss://)"
	case (u.Scheme == "tls" || u.Scheme == "wss") && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		return "the server on " + host + " closed the connection during the TLS handshake: it probably does not speak TLS (use " + plainScheme(u.Scheme) + "://)"
	case handshake && (errors.Is(err, wire.ErrFrameTooLarge) || errors.Is(err, wire.ErrMalformed) ||
		errors.Is(err, wire.ErrUnknownType) || errors.Is(err, wire.ErrBadFlags) || strings.Contains(msg, "unexpected")):
		return "the server on " + host + " answered, but not in the msgtrans protocol: wrong port or transport (an HTTP or WebSocket port takes ws://, a TLS port tls://)"
	case handshake && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)):
		return "the server on " + host + " closed the connection without answering: it probably expects another transport (TLS: tls://, WebSocket: ws://)"
	case handshake && (errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())):
		return "the server on " + host + " accepted the connection but did not answer within --connect-timeout: probably not the broker's " + u.Scheme + " port (a WebSocket or HTTP port takes ws://, a TLS port tls://)"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "no answer from " + host + " within --connect-timeout (a firewall dropping packets, or a broker too busy to answer)"
	}
	return ""
}

// plainScheme is the scheme without TLS of a TLS scheme.
func plainScheme(s string) string {
	switch s {
	case "tls":
		return "tcp"
	case "wss":
		return "ws"
	}
	return s
}
