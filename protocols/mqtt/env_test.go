package mqtt_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/plugins"
	"github.com/msgtrans/msgtrans/protocols/mqtt"
	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
)

const wait = 10 * time.Second

// env is a broker with a native TCP listener and the MQTT protocol linked
// in, on loopback ports.
type env struct {
	b      *broker.Broker
	native string // tcp:// URL
	addr   string // the MQTT listener
	runner *plugins.Runner
	logs   *testproc.Buffer
	stop   func() // stops the protocol and the broker; more calls do nothing
}

func start(t testing.TB, settings map[string]string, bo broker.Options) *env {
	t.Helper()
	b, err := broker.New(bo)
	if err != nil {
		t.Fatal(err)
	}
	e, err := adapters.NewEngine(b, adapters.Options{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ta := tcp.New(e, tcp.Options{Addr: "127.0.0.1:0"})
	if err := ta.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); ta.Serve(ctx) }()
	s := map[string]string{"listen": "127.0.0.1:0"}
	for k, v := range settings {
		s[k] = v
	}
	logs := &testproc.Buffer{}
	r, err := plugins.New(plugins.Config{Name: "mqtt", Settings: s, Protocol: mqtt.Protocol{}}, e,
		plugins.Options{Logger: zerolog.New(logs).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); r.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			b.Close()
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	addr, _ := strings.CutPrefix(r.Status(), "listening on ")
	addr, _, _ = strings.Cut(addr, " ")
	return &env{b: b, native: "tcp://" + ta.Addr().String(), addr: addr, runner: r, logs: logs, stop: stop}
}

// nativeConn is a native SDK client of the broker.
func (e *env) nativeConn(t *testing.T, opts ...sdk.Option) *sdk.Conn {
	t.Helper()
	c, err := sdk.Connect(e.native, append(opts, sdk.MaxReconnects(0))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func flush(t *testing.T, c *sdk.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, s *sdk.Subscription) *sdk.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m, err := s.NextMsg(ctx)
	if err != nil {
		t.Fatalf("no message on %s: %v", s.Topic, err)
	}
	return m
}

// v5 is a paho.golang (MQTT 5.0) client; its messages arrive on msgs.
type v5 struct {
	*paho.Client
	msgs  chan *paho.Publish
	disco chan *paho.Disconnect
	ack   *paho.Connack
}

func (e *env) v5(t *testing.T, cp *paho.Connect) *v5 {
	t.Helper()
	c, err := e.v5Dial(t, cp)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) v5Dial(t *testing.T, cp *paho.Connect) (*v5, error) {
	t.Helper()
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &v5{msgs: make(chan *paho.Publish, 1000), disco: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disco <- d },
	})
	if cp == nil {
		cp = &paho.Connect{}
	}
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c.ack, err = c.Connect(ctx, cp)
	if err != nil {
		nc.Close()
		return c, err
	}
	t.Cleanup(func() {
		c.Disconnect(&paho.Disconnect{})
		nc.Close()
	})
	return c, nil
}

func (c *v5) sub(t *testing.T, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		t.Fatalf("subscribe %s: %v %+v", filter, err, sa)
	}
}

func (c *v5) pub(t *testing.T, p *paho.Publish) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := c.Publish(ctx, p)
	if err != nil {
		t.Fatalf("publish %s: %v", p.Topic, err)
	}
	return r
}

func (c *v5) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no MQTT message")
	}
	return nil
}

// v3 is a paho.mqtt.golang (MQTT 3.1.1) client.
type v3 struct {
	paho3.Client
	msgs chan paho3.Message
}

func (e *env) v3(t *testing.T, id string, clean bool, more func(*paho3.ClientOptions)) *v3 {
	t.Helper()
	c := &v3{msgs: make(chan paho3.Message, 1000)}
	o := paho3.NewClientOptions().AddBroker("tcp://" + e.addr).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) { c.msgs <- m })
	if more != nil {
		more(o)
	}
	c.Client = paho3.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("3.1.1 connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func (c *v3) next(t *testing.T) paho3.Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no MQTT 3.1.1 message")
	}
	return nil
}

func done(t *testing.T, tok paho3.Token) {
	t.Helper()
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("3.1.1: %v", tok.Error())
	}
}

// raw is an MQTT client written with the packet package, for what the
// libraries do not let a test do (misbehave, watch single packets).
type raw struct {
	t  testing.TB
	nc net.Conn
	r  *packet.Reader
	v  packet.Version
}

func (e *env) raw(t testing.TB, v packet.Version) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	r := packet.NewReader(nc, 0)
	r.SetVersion(v)
	return &raw{t: t, nc: nc, r: r, v: v}
}

func (c *raw) send(p packet.Packet) {
	c.t.Helper()
	b, err := p.Append(nil, c.v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(b)
}

func (c *raw) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next packet (a copy of its main fields is the
// caller's business: it is valid until the next read), or nil and the
// error.
func (c *raw) read(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	return c.r.ReadPacket()
}

func (c *raw) expect(what packet.Type) packet.Packet {
	c.t.Helper()
	p, err := c.read(wait)
	if err != nil {
		c.t.Fatalf("want %v, got %v", what, err)
	}
	if p.Type() != what {
		c.t.Fatalf("want %v, got %v %+v", what, p.Type(), p)
	}
	return p
}

// connect sends CONNECT and returns the CONNACK.
func (c *raw) connect(p *packet.Connect) *packet.Connack {
	c.t.Helper()
	c.send(p)
	return c.expect(packet.TypeConnack).(*packet.Connack)
}

// closed waits until the server closes the connection, skipping packets
// (a 5.0 DISCONNECT is returned).
func (c *raw) closed() *packet.Disconnect {
	c.t.Helper()
	var d *packet.Disconnect
	for {
		p, err := c.read(wait)
		if err != nil {
			if err == io.EOF || strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "closed") {
				return d
			}
			if _, ok := err.(*packet.Error); ok {
				continue
			}
			c.t.Fatalf("connection not closed: %v", err)
		}
		if dp, ok := p.(*packet.Disconnect); ok {
			cp := *dp
			d = &cp
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ = fmt.Sprint

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}
