package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/msgtrans/msgtrans/sdk"
)

// defaultURL is used when neither --server nor MSGTRANS_URL is set.
const defaultURL = "tcp://127.0.0.1:8001"

// connFlags are the connection flags every command accepts.
type connFlags struct {
	server         string
	name           string
	token          string
	user           string
	password       string
	ca             string
	tlsCert        string
	tlsKey         string
	serverName     string
	pin            string
	insecure       bool
	connectTimeout time.Duration
}

var connFlagNames = map[string]bool{
	"server": true, "name": true, "token": true, "user": true, "password": true,
	"ca": true, "tls-cert": true, "tls-key": true, "server-name": true, "pin": true, "insecure": true, "connect-timeout": true,
}

func registerConnFlags(fs *flag.FlagSet) *connFlags {
	cf := &connFlags{}
	def := os.Getenv("MSGTRANS_URL")
	if def == "" {
		def = defaultURL
	}
	fs.StringVar(&cf.server, "server", def, "comma-separated broker `urls`, tried in order (tcp://, tls://, ws://, wss://, quic://;\na bare host:port is tcp://); $MSGTRANS_URL sets the default, else "+defaultURL)
	fs.StringVar(&cf.name, "name", "", "connection `name` shown in the broker's logs and stats (default msgtrans-<command>)")
	fs.StringVar(&cf.token, "token", "", "authenticate with this bearer `token`")
	fs.StringVar(&cf.user, "user", "", "authenticate with this user `name` (with --password)")
	fs.StringVar(&cf.password, "password", "", "`password` for --user")
	fs.StringVar(&cf.ca, "ca", "", "trust the PEM CA certificates in `file` for tls://, wss:// and quic://")
	fs.StringVar(&cf.tlsCert, "tls-cert", "", "present the PEM client certificate in `file` to a broker that asks for one (mTLS; with --tls-key)")
	fs.StringVar(&cf.tlsKey, "tls-key", "", "the private key of --tls-cert, PEM `file`")
	fs.StringVar(&cf.serverName, "server-name", "", "check the server certificate against this `name` instead of the URL's host")
	fs.StringVar(&cf.pin, "pin", "", "trust exactly the server certificate with this SHA-256 `fingerprint` (hex, colons allowed),\nsuch as the one the broker logs for its generated QUIC certificate")
	fs.BoolVar(&cf.insecure, "insecure", false, "accept any server certificate: DEVELOPMENT ONLY, it makes TLS useless\nagainst an active attacker (prefer --pin for a self-signed certificate)")
	fs.DurationVar(&cf.connectTimeout, "connect-timeout", 2*time.Second, "bound for dialing and the handshake with one server")
	return cf
}

// options turns the flags into SDK options; name is the default
// connection name.
func (cf *connFlags) options(name string) ([]sdk.Option, error) {
	if cf.connectTimeout <= 0 {
		return nil, usagef("--connect-timeout must be positive, got %v", cf.connectTimeout)
	}
	if cf.password != "" && cf.user == "" {
		return nil, usagef("--password needs --user")
	}
	if cf.user != "" && cf.password == "" {
		return nil, usagef("--user needs --password")
	}
	if cf.name != "" {
		name = cf.name
	}
	opts := []sdk.Option{sdk.Name(name), sdk.ConnectTimeout(cf.connectTimeout)}
	if cf.token != "" {
		opts = append(opts, sdk.Token(cf.token))
	}
	if cf.user != "" {
		opts = append(opts, sdk.UserInfo(cf.user, cf.password))
	}
	if cf.ca != "" {
		if err := sdk.RootCAFile(cf.ca)(&sdk.Options{}); err != nil {
			return nil, fmt.Errorf("--ca: %s", describe(err))
		}
		opts = append(opts, sdk.RootCAFile(cf.ca))
	}
	if (cf.tlsCert == "") != (cf.tlsKey == "") {
		return nil, usagef("--tls-cert and --tls-key go together")
	}
	if cf.tlsCert != "" {
		if err := sdk.ClientCert(cf.tlsCert, cf.tlsKey)(&sdk.Options{}); err != nil {
			return nil, fmt.Errorf("--tls-cert: %s", describe(err))
		}
		opts = append(opts, sdk.ClientCert(cf.tlsCert, cf.tlsKey))
	}
	if cf.serverName != "" {
		opts = append(opts, sdk.ServerName(cf.serverName))
	}
	if cf.pin != "" {
		if err := sdk.PinnedCertSHA256(cf.pin)(&sdk.Options{}); err != nil {
			return nil, usagef("--pin: %s", strings.TrimPrefix(err.Error(), "sdk: "))
		}
		opts = append(opts, sdk.PinnedCertSHA256(cf.pin))
	}
	if cf.insecure {
		opts = append(opts, sdk.InsecureSkipVerify())
	}
	return opts, nil
}

// connect opens a connection with the flags' options, then extra.
func (cf *connFlags) connect(name string, extra ...sdk.Option) (*sdk.Conn, error) {
	opts, err := cf.options(name)
	if err != nil {
		return nil, err
	}
	nc, err := sdk.Connect(cf.server, append(opts, extra...)...)
	if err != nil {
		if errors.Is(err, sdk.ErrBadURL) {
			return nil, usagef("--server: %s", describe(err))
		}
		if errors.Is(err, sdk.ErrNoServers) {
			return nil, connectError(err)
		}
		return nil, fmt.Errorf("cannot connect to %s: %w", cf.server, err)
	}
	return nc, nil
}

// transportOf names the transport of a URL: its scheme.
func transportOf(u string) string {
	if i := strings.Index(u, ","); i >= 0 {
		u = u[:i]
	}
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || p.Scheme == "" {
		return "?"
	}
	return p.Scheme
}

// headerFlag collects repeatable --header k=v flags.
type headerFlag struct{ h sdk.Header }

func (f *headerFlag) String() string {
	if f == nil || len(f.h) == 0 {
		return ""
	}
	return formatHeaders(f.h)
}

func (f *headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if f.h == nil {
		f.h = sdk.Header{}
	}
	f.h.Add(k, v)
	return nil
}

// formatHeaders writes headers as k=v pairs, keys sorted, values in order.
func formatHeaders(h sdk.Header) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range h[k] {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(v)
		}
	}
	return b.String()
}

// describe turns an error into the text of the one line the user sees:
// the broker's refusals read "refused by the broker: reason (CODE)", and
// the SDK's "sdk: " prefixes are dropped.
func describe(err error) string {
	full := err.Error()
	var se *sdk.ServerError
	if errors.As(err, &se) && strings.HasSuffix(full, se.Error()) {
		reason := fmt.Sprintf("refused by the broker: %s (%v)", se.Text, se.Code)
		prefix := strings.TrimSuffix(strings.TrimSuffix(full, se.Error()), ": ")
		if prefix == "" {
			return reason
		}
		return strings.ReplaceAll(prefix, "sdk: ", "") + ": " + reason
	}
	return strings.ReplaceAll(full, "sdk: ", "")
}

// oneLine keeps a message on one line (errors.Join uses newlines).
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}

func fileIsTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
