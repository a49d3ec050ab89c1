package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// defaultMonitorURL is used when neither --url nor MSGTRANS_MONITOR is set:
// the broker's default http.listen.
const defaultMonitorURL = "http://127.0.0.1:8222"

type serverOptions struct {
	url, user, password, ca  string
	sort, protocol, connUser string
	state, test, filter      string
	limit                    int
}

func serverCommand() *command {
	o := &serverOptions{}
	return &command{
		name:    "server",
		summary: "show what a broker is doing (reads its monitoring endpoint)",
		usage:   "info | conns | subs | reload [flags]",
		noConn:  true,
		help: `
Reads the broker's monitoring endpoint (http.listen, see docs/monitoring.md)
and prints tables:

  info   the server, its counters, connections by protocol, plugins, health
  conns  connections, busiest first (--sort), optionally filtered
  subs   subscriptions by filter and queue group; --test shows who a
         message on a topic would reach
  reload makes the broker read its configuration again, as SIGHUP does
         (users, permissions, certificates, log level); the endpoint must
         have http.user and http.password, given here with --user and
         --password

Examples:
  msgtrans server info
  msgtrans server conns --sort pending --limit 10
  msgtrans server conns --protocol mqtt --state closed
  msgtrans server subs --test orders.eu.created
  msgtrans server reload --user ops --password secret
  msgtrans server info --url https://broker:8222 --ca ca.pem --user ops --password secret`,
		flags: func(fs *flag.FlagSet) {
			def := os.Getenv("MSGTRANS_MONITOR")
			if def == "" {
				def = defaultMonitorURL
			}
			fs.StringVar(&o.url, "url", def, "the monitoring endpoint's base `url` (the broker's http.listen); $MSGTRANS_MONITOR sets the default")
			fs.StringVar(&o.user, "user", "", "HTTP basic authentication `name` (http.user)")
			fs.StringVar(&o.password, "password", "", "`password` for --user (http.password)")
			fs.StringVar(&o.ca, "ca", "", "trust the PEM CA certificates in `file` for an https:// endpoint")
			fs.StringVar(&o.sort, "sort", "bytes", "conns: sort `key`: bytes, msgs, bytes_in, bytes_out, msgs_in, msgs_out,\npending, idle, uptime, subs or id")
			fs.IntVar(&o.limit, "limit", 20, "conns, subs: show at most this many `rows`")
			fs.StringVar(&o.protocol, "protocol", "", "conns: only connections of this `protocol` (tcp, ws, quic, a plugin's name...)")
			fs.StringVar(&o.connUser, "conn-user", "", "conns: only connections of this `user`")
			fs.StringVar(&o.state, "state", "open", "conns: connections in this `state`: open, closed (the last ones to close) or all")
			fs.StringVar(&o.test, "test", "", "subs: show who a message on this `topic` would reach")
			fs.StringVar(&o.filter, "filter", "", "subs: only filters containing this `text`")
		},
		run: o.run,
	}
}

// connSortKeys are /connz's sort keys (docs/monitoring.md).
var connSortKeys = []string{"bytes", "msgs", "bytes_in", "bytes_out", "msgs_in", "msgs_out", "pending", "idle", "uptime", "subs", "id"}

// serverFlagsOf says which subcommand each subcommand-specific flag belongs to.
var serverFlagsOf = map[string]string{
	"sort": "conns", "protocol": "conns", "conn-user": "conns", "state": "conns",
	"test": "subs", "filter": "subs",
}

func (o *serverOptions) run(ctx context.Context, e *env, fs *flag.FlagSet, _ *connFlags, args []string) error {
	if len(args) != 1 {
		return usagef("want one of info, conns, subs, reload")
	}
	sub := args[0]
	if sub != "info" && sub != "conns" && sub != "subs" && sub != "reload" {
		return usagef("unknown server command %q: want info, conns, subs or reload", sub)
	}
	var misplaced error
	fs.Visit(func(f *flag.Flag) {
		if want, ok := serverFlagsOf[f.Name]; ok && want != sub && misplaced == nil {
			misplaced = usagef("--%s applies to 'server %s', not 'server %s'", f.Name, want, sub)
		}
	})
	if isSet(fs, "limit") && (sub == "info" || sub == "reload") {
		misplaced = usagef("--limit applies to 'server conns' and 'server subs', not 'server %s'", sub)
	}
	if misplaced != nil {
		return misplaced
	}
	if !slices.Contains(connSortKeys, o.sort) {
		return usagef("--sort %q: want one of %s", o.sort, strings.Join(connSortKeys, ", "))
	}
	if o.state != "open" && o.state != "closed" && o.state != "all" {
		return usagef("--state %q: want open, closed or all", o.state)
	}
	if o.limit < 1 {
		return usagef("--limit must be positive, got %d", o.limit)
	}
	if (o.user == "") != (o.password == "") {
		return usagef("--user and --password go together")
	}
	base, err := url.Parse(strings.TrimSuffix(o.url, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return usagef("--url %q: want http://host:port or https://host:port", o.url)
	}
	mc, err := o.client(base)
	if err != nil {
		return err
	}
	switch sub {
	case "reload":
		return mc.reload(ctx, e.stdout)
	case "info":
		return mc.info(ctx, e.stdout)
	case "conns":
		return mc.conns(ctx, e.stdout, o)
	default:
		return mc.subs(ctx, e.stdout, o)
	}
}

// monitorClient reads the JSON endpoints.
type monitorClient struct {
	base       *url.URL
	user, pass string
	hc         *http.Client
}

func (o *serverOptions) client(base *url.URL) (*monitorClient, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--ca %s: no PEM certificate in it", o.ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &monitorClient{base: base, user: o.user, pass: o.password, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

// send makes a request of the monitoring endpoint and returns the
// response's status and body (bounded); a 401 is an error naming the flags
// to give.
func (m *monitorClient) send(ctx context.Context, method, path string, q url.Values) (int, []byte, error) {
	u := *m.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return 0, nil, err
	}
	if m.user != "" {
		req.SetBasicAuth(m.user, m.pass)
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot reach the monitoring endpoint %s (is the broker's http.listen set?): %w", m.base, unwrapURLErr(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return 0, nil, fmt.Errorf("%s: the monitoring endpoint wants credentials (--user, --password)", m.base)
	}
	return resp.StatusCode, body, nil
}

// get fetches path (with query) into v. A 503 from /healthz is an answer,
// not a failure: ok503 lets it through.
func (m *monitorClient) get(ctx context.Context, path string, q url.Values, v any, ok503 bool) error {
	code, body, err := m.send(ctx, "GET", path, q)
	if err != nil {
		return err
	}
	switch {
	case code == http.StatusBadRequest:
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		return fmt.Errorf("%s refused the request: %s", path, e.Error)
	case code != http.StatusOK && !(ok503 && code == http.StatusServiceUnavailable):
		return fmt.Errorf("%s: HTTP %d %s", path, code, http.StatusText(code))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: not a msgtrans monitoring answer: %w", path, err)
	}
	return nil
}

// reload asks the broker to read its configuration again (POST /reload).
func (m *monitorClient) reload(ctx context.Context, w io.Writer) error {
	code, body, err := m.send(ctx, "POST", "/reload", nil)
	if err != nil {
		return err
	}
	var answer struct {
		Reloaded bool   `json:"reloaded"`
		Error    string `json:"error"`
	}
	json.Unmarshal(body, &answer)
	switch {
	case code == http.StatusOK && answer.Reloaded:
		fmt.Fprintln(w, "configuration reloaded")
		return nil
	case answer.Error != "":
		return fmt.Errorf("reload refused: %s", answer.Error)
	}
	return fmt.Errorf("/reload: HTTP %d %s", code, http.StatusText(code))
}

func unwrapURLErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// The JSON the endpoints answer, as far as this command prints it (field
// by field in docs/monitoring.md). The CLI keeps its own copy so that it
// depends on the documented format, not on the server's packages.
type (
	varz struct {
		ServerID         string `json:"server_id"`
		Version          string `json:"version"`
		Uptime           string `json:"uptime"`
		Connections      int    `json:"connections"`
		TotalConnections uint64 `json:"total_connections"`
		Protocols        map[string]struct {
			Connections      int    `json:"connections"`
			TotalConnections uint64 `json:"total_connections"`
			MsgsIn           uint64 `json:"in_msgs"`
			BytesIn          uint64 `json:"in_bytes"`
			MsgsOut          uint64 `json:"out_msgs"`
			BytesOut         uint64 `json:"out_bytes"`
		} `json:"protocols"`
		MsgsIn            uint64                             `json:"in_msgs"`
		BytesIn           uint64                             `json:"in_bytes"`
		MsgsOut           uint64                             `json:"out_msgs"`
		BytesOut          uint64                             `json:"out_bytes"`
		SlowConsumers     uint64                             `json:"slow_consumers"`
		AuthFailures      uint64                             `json:"auth_failures"`
		PermissionDenials uint64                             `json:"permission_denials"`
		Subscriptions     int                                `json:"subscriptions"`
		Retained          int                                `json:"retained_msgs"`
		RetainedBytes     int                                `json:"retained_bytes"`
		PendingBytes      int                                `json:"pending_bytes"`
		Mem               uint64                             `json:"mem"`
		CPU               float64                            `json:"cpu"`
		Cores             int                                `json:"cores"`
		Goroutines        int                                `json:"goroutines"`
		Config            struct{ Listen map[string]string } `json:"config"`
	}
	pluginz struct {
		Plugins []struct {
			Name      string `json:"name"`
			State     string `json:"state"`
			PID       int    `json:"pid"`
			Linked    bool   `json:"linked"`
			Restarts  int    `json:"restarts"`
			Sessions  int    `json:"sessions"`
			LastError string `json:"last_error"`
		} `json:"plugins"`
	}
	healthz struct {
		Status string            `json:"status"`
		Down   map[string]string `json:"down"`
	}
	connz struct {
		Total int    `json:"total"`
		Sort  string `json:"sort"`
		Conns []struct {
			ID       uint64 `json:"id"`
			Protocol string `json:"protocol"`
			Name     string `json:"name"`
			User     string `json:"user"`
			Remote   string `json:"remote"`
			TLS      bool   `json:"tls"`
			Subs     int    `json:"subscriptions"`
			MsgsIn   uint64 `json:"in_msgs"`
			BytesIn  uint64 `json:"in_bytes"`
			MsgsOut  uint64 `json:"out_msgs"`
			BytesOut uint64 `json:"out_bytes"`
			Pending  int    `json:"pending_bytes"`
			Uptime   string `json:"uptime"`
			Idle     string `json:"idle"`
			Stop     string `json:"stop"`
			Reason   string `json:"reason"`
		} `json:"connections"`
	}
	subsz struct {
		Subscriptions int `json:"subscriptions"`
		Filters       int `json:"filters"`
		QueueGroups   int `json:"queue_groups"`
		Total         int `json:"total"`
		Entries       []struct {
			Filter      string `json:"filter"`
			Queue       string `json:"queue"`
			Subscribers int    `json:"subscribers"`
		} `json:"entries"`
		Test *struct {
			Topic      string `json:"topic"`
			Deliveries int    `json:"deliveries"`
			Receivers  []struct {
				Conn     uint64 `json:"conn"`
				Node     string `json:"node"`
				Name     string `json:"name"`
				Protocol string `json:"protocol"`
				SID      uint32 `json:"sid"`
				Filter   string `json:"filter"`
				Queue    string `json:"queue"`
			} `json:"receivers"`
		} `json:"test"`
	}
)

func (m *monitorClient) info(ctx context.Context, w io.Writer) error {
	var (
		v  varz
		pz pluginz
		hz healthz
	)
	if err := m.get(ctx, "/varz", nil, &v, false); err != nil {
		return err
	}
	if err := m.get(ctx, "/pluginz", nil, &pz, false); err != nil {
		return err
	}
	if err := m.get(ctx, "/healthz", nil, &hz, true); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Server %s  version %s  up %s  (%s)\n", v.ServerID, v.Version, v.Uptime, m.base)
	health := "ok"
	if hz.Status != "ok" {
		var down []string
		for name, why := range hz.Down {
			down = append(down, name+": "+why)
		}
		sort.Strings(down)
		health = "DOWN: " + strings.Join(down, "; ")
	}
	fmt.Fprintf(&b, "Health %s\n\n", health)
	writeTable(&b, "llll", [][]string{
		{"Connections", fmt.Sprintf("%d (%d since start)", v.Connections, v.TotalConnections), "Subscriptions", count(uint64(v.Subscriptions))},
		{"Messages in", fmt.Sprintf("%s (%s)", count(v.MsgsIn), humanBytes(float64(v.BytesIn))), "Messages out", fmt.Sprintf("%s (%s)", count(v.MsgsOut), humanBytes(float64(v.BytesOut)))},
		{"Slow consumers", count(v.SlowConsumers), "Pending", humanBytes(float64(max(v.PendingBytes, 0)))},
		{"Auth failures", count(v.AuthFailures), "Permission denials", count(v.PermissionDenials)},
		{"Retained", fmt.Sprintf("%d (%s)", v.Retained, humanBytes(float64(max(v.RetainedBytes, 0)))), "Memory", humanBytes(float64(v.Mem))},
		{"CPU", fmt.Sprintf("%.0f%% of one core (%d cores)", v.CPU, v.Cores), "Goroutines", strconv.Itoa(v.Goroutines)},
	})
	if len(v.Protocols) > 0 {
		b.WriteString("\n")
		rows := [][]string{{"Protocol", "Conns", "Total", "Msgs In", "Bytes In", "Msgs Out", "Bytes Out", "Listen"}}
		for _, name := range sortedKeys(v.Protocols) {
			p := v.Protocols[name]
			rows = append(rows, []string{name, strconv.Itoa(p.Connections), count(p.TotalConnections), count(p.MsgsIn),
				humanBytes(float64(p.BytesIn)), count(p.MsgsOut), humanBytes(float64(p.BytesOut)), v.Config.Listen[name]})
		}
		writeTable(&b, "lrrrrrrl", rows)
	}
	if len(pz.Plugins) > 0 {
		b.WriteString("\n")
		rows := [][]string{{"Plugin", "State", "PID", "Restarts", "Sessions", "Last error"}}
		for _, p := range pz.Plugins {
			pid := strconv.Itoa(p.PID)
			if p.Linked {
				pid = "linked"
			} else if p.PID == 0 {
				pid = "-"
			}
			rows = append(rows, []string{p.Name, p.State, pid, strconv.Itoa(p.Restarts), strconv.Itoa(p.Sessions), p.LastError})
		}
		writeTable(&b, "llrrrl", rows)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (m *monitorClient) conns(ctx context.Context, w io.Writer, o *serverOptions) error {
	q := url.Values{"sort": {o.sort}, "limit": {strconv.Itoa(o.limit)}, "state": {o.state}}
	if o.protocol != "" {
		q.Set("protocol", o.protocol)
	}
	if o.connUser != "" {
		q.Set("user", o.connUser)
	}
	var cz connz
	if err := m.get(ctx, "/connz", q, &cz, false); err != nil {
		return err
	}
	var b strings.Builder
	what := map[string]string{"open": "open connections", "closed": "recently closed connections", "all": "connections, open and recently closed"}[o.state]
	fmt.Fprintf(&b, "%d of %d %s, by %s\n\n", len(cz.Conns), cz.Total, what, cz.Sort)
	if len(cz.Conns) == 0 {
		_, err := io.WriteString(w, b.String())
		return err
	}
	lastHead := "Idle"
	if o.state != "open" {
		lastHead = "Idle / Closed because"
	}
	rows := [][]string{{"ID", "Name", "Protocol", "User", "Remote", "Subs", "Msgs In", "Bytes In", "Msgs Out", "Bytes Out", "Pending", "Uptime", lastHead}}
	for _, c := range cz.Conns {
		proto := c.Protocol
		if c.TLS {
			proto += " (tls)"
		}
		pending := "-"
		if c.Pending >= 0 {
			pending = humanBytes(float64(c.Pending))
		}
		end := c.Idle
		switch {
		case c.Reason != "":
			end = "closed: " + c.Reason
		case c.Stop != "":
			end = "closed by the client"
		}
		rows = append(rows, []string{strconv.FormatUint(c.ID, 10), c.Name, proto, c.User, c.Remote, strconv.Itoa(c.Subs),
			count(c.MsgsIn), humanBytes(float64(c.BytesIn)), count(c.MsgsOut), humanBytes(float64(c.BytesOut)), pending, c.Uptime, end})
	}
	writeTable(&b, "rllllrrrrrrrl", rows)
	_, err := io.WriteString(w, b.String())
	return err
}

func (m *monitorClient) subs(ctx context.Context, w io.Writer, o *serverOptions) error {
	q := url.Values{"limit": {strconv.Itoa(o.limit)}}
	if o.test != "" {
		q.Set("test", o.test)
	}
	if o.filter != "" {
		q.Set("filter", o.filter)
	}
	var sz subsz
	if err := m.get(ctx, "/subsz", q, &sz, false); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d subscriptions on %d filters (%d queue groups)\n", sz.Subscriptions, sz.Filters, sz.QueueGroups)
	if len(sz.Entries) > 0 {
		b.WriteString("\n")
		rows := [][]string{{"Filter", "Queue group", "Subscribers"}}
		for _, e := range sz.Entries {
			rows = append(rows, []string{e.Filter, e.Queue, strconv.Itoa(e.Subscribers)})
		}
		writeTable(&b, "llr", rows)
		if sz.Total > len(sz.Entries) {
			fmt.Fprintf(&b, "(%d more; --limit shows more)\n", sz.Total-len(sz.Entries))
		}
	}
	if t := sz.Test; t != nil {
		fmt.Fprintf(&b, "\nA message on %s would make %d deliveries", t.Topic, t.Deliveries)
		if len(t.Receivers) == 0 {
			b.WriteString(": nobody subscribes to it\n")
		} else {
			b.WriteString(" (one per queue group):\n\n")
			rows := [][]string{{"Conn", "Name", "Protocol", "SID", "Filter", "Queue group"}}
			for _, r := range t.Receivers {
				conn := strconv.FormatUint(r.Conn, 10)
				if r.Conn == 0 {
					conn = "node " + r.Node
				}
				rows = append(rows, []string{conn, r.Name, r.Protocol, strconv.FormatUint(uint64(r.SID), 10), r.Filter, r.Queue})
			}
			writeTable(&b, "rllrll", rows)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// count writes a message or connection count briefly: 950, 12.3K, 4.1M.
func count(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return strconv.FormatUint(n, 10)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
