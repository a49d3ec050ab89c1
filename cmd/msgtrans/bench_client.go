package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/msgtrans/msgtrans/sdk"
)

// benchClient is one bench connection: what the scenarios do with it. It
// is a native connection (tcp://, tls://, ws://, wss://, quic://, through
// the SDK) or a connection to the example plugin's text protocol
// (text://), which makes every scenario comparable across both.
type benchClient interface {
	// Publish sends a message; payload is not kept after the call.
	Publish(topic string, payload []byte) error
	// Subscribe calls onMsg with the payload of each message on topic (a
	// slice valid only during the call), one message at a time. The
	// broker's verdict on the subscription comes with the next Flush (or
	// Failure).
	Subscribe(topic string, onMsg func(payload []byte)) error
	// Echo answers each request on topic with its own payload, as a member
	// of the queue group.
	Echo(topic, queue string) error
	// Request sends a request and waits for its reply.
	Request(ctx context.Context, topic string, payload []byte) error
	// Flush returns once the broker has processed everything sent before.
	Flush(ctx context.Context) error
	// Failure is the first asynchronous failure (a refused publish or
	// subscription, the connection lost), nil if none.
	Failure() error
	// URL is the server connected to.
	URL() string
	Close() error
}

// benchDialer opens the bench connections of one run.
type benchDialer struct {
	cf      *connFlags
	text    []string // the host:port of each text:// URL; empty: the SDK
	maxLine int      // longest line a text connection accepts
}

// textOnlyConnFlags are the connection flags that mean something to a
// text:// server; the others (TLS, credentials, a session name) would be
// ignored, so giving one is a usage error.
var textOnlyConnFlags = []string{"server", "connect-timeout"}

// newBenchDialer checks --server and the connection flags against the
// transport: text:// has no TLS and no credentials of its own (the plugin
// opens broker sessions with its own token), and --plugin-pid means
// something only there.
func (o *benchOptions) newBenchDialer(fs *flag.FlagSet, cf *connFlags) (*benchDialer, error) {
	d := &benchDialer{cf: cf, maxLine: textMaxLine(o.size, len(o.topic))}
	urls := strings.Split(cf.server, ",")
	for _, u := range urls {
		u = strings.TrimSpace(u)
		if !strings.HasPrefix(strings.ToLower(u), "text://") {
			continue
		}
		hp, err := parseTextURL(u)
		if err != nil {
			return nil, err
		}
		d.text = append(d.text, hp)
	}
	if len(d.text) == 0 {
		if isSet(fs, "plugin-pid") {
			return nil, usagef("--plugin-pid applies only to a text:// --server (the example plugin's process)")
		}
		return d, nil
	}
	if len(d.text) != len(urls) {
		return nil, usagef("--server: text:// cannot be mixed with other schemes, got %q", cf.server)
	}
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		if connFlagNames[f.Name] && !slices.Contains(textOnlyConnFlags, f.Name) {
			bad = append(bad, "--"+f.Name)
		}
	})
	if len(bad) > 0 {
		return nil, usagef("%s does not apply to text:// (the text protocol has no TLS, and the plugin "+
			"opens broker sessions with its own name and credentials: its token setting)", strings.Join(bad, ", "))
	}
	return d, nil
}

// parseTextURL checks a text://host:port URL and returns host:port.
func parseTextURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", usagef("--server: %q: %v", s, err)
	}
	if u.Host == "" || u.Port() == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", usagef("--server: want text://host:port, got %q", s)
	}
	return u.Host, nil
}

// dial opens one connection named name (the SDK's session name; a text
// connection's session is named by the plugin).
func (d *benchDialer) dial(ctx context.Context, name string) (benchClient, error) {
	if len(d.text) > 0 {
		return d.dialText(ctx)
	}
	c := &sdkClient{}
	nc, err := d.cf.connect(name,
		sdk.MaxReconnects(0),
		// Subscribers keep up or fail the run; the SDK's default pending
		// limits would drop messages of a fast publisher first.
		sdk.SubPendingLimits(1<<24, 1<<30),
		sdk.DisconnectHandler(func(_ *sdk.Conn, err error) {
			c.fail(fmt.Errorf("disconnected: %w", err))
		}),
		sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) {
			c.fail(err)
		}))
	if err != nil {
		return nil, err
	}
	c.nc = nc
	return c, nil
}

// dialText tries the text:// URLs in order, like the SDK does its list.
func (d *benchDialer) dialText(ctx context.Context) (benchClient, error) {
	var errs []string
	for _, hp := range d.text {
		c, err := dialTextClient(ctx, hp, d.cf.connectTimeout, d.maxLine)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("cannot connect: %s", strings.Join(errs, "; "))
}

// sdkClient is a benchClient over a native connection.
type sdkClient struct {
	nc  *sdk.Conn
	mu  sync.Mutex
	err error
}

func (c *sdkClient) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *sdkClient) Failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *sdkClient) Publish(topic string, payload []byte) error { return c.nc.Publish(topic, payload) }

func (c *sdkClient) Subscribe(topic string, onMsg func([]byte)) error {
	_, err := c.nc.Subscribe(topic, func(m *sdk.Msg) { onMsg(m.Data) })
	return err
}

func (c *sdkClient) Echo(topic, queue string) error {
	_, err := c.nc.QueueSubscribe(topic, queue, func(m *sdk.Msg) { m.Respond(m.Data) })
	return err
}

func (c *sdkClient) Request(ctx context.Context, topic string, payload []byte) error {
	_, err := c.nc.Request(ctx, topic, payload)
	return err
}

func (c *sdkClient) Flush(ctx context.Context) error { return c.nc.Flush(ctx) }
func (c *sdkClient) URL() string                     { return c.nc.ConnectedURL() }
func (c *sdkClient) Close() error                    { return c.nc.Close() }

// benchConns closes connections when a scenario ends.
type benchConns []benchClient

func (cs *benchConns) add(c benchClient) { *cs = append(*cs, c) }

func (cs benchConns) closeAll() {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
}

// flush is c.Flush bounded by --timeout.
func (o *benchOptions) flush(ctx context.Context, c benchClient) error {
	fctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := c.Flush(fctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("broker did not answer a flush within %v", o.timeout)
		}
		return err
	}
	return nil
}

// benchPayload is the payload every publisher and requester sends: letters
// only, so it stays one line of the text protocol.
func benchPayload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}
