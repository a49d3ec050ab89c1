package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

const wait = 5 * time.Second

func connect(t *testing.T, url string, opts ...sdk.Option) *sdk.Conn {
	t.Helper()
	c, err := sdk.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startRefusing starts a broker whose retained store is full, so that it
// refuses a retained publish to any new topic (RETAINED_LIMIT) although
// the SDK finds nothing wrong with it: a way to get the broker's
// asynchronous refusal of a plain publish.
func startRefusing(t *testing.T) *adapterstest.Server {
	t.Helper()
	store := broker.NewMemoryStore(1, 0)
	if err := store.Set(broker.RetainedMessage{Topic: "kept", Payload: []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	return adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{Retained: store}})
}

// publishRefused sends a publish that startRefusing's broker refuses.
func publishRefused(c *sdk.Conn) error {
	return c.PublishMsg(&sdk.Msg{Topic: "refused", Data: []byte("x"), Retain: true})
}

// isRetainedLimit reports whether err is the broker's refusal of
// publishRefused.
func isRetainedLimit(err error) bool {
	var se *sdk.ServerError
	return errors.As(err, &se) && se.Code == wire.CodeRetainedLimit
}

func flush(t *testing.T, c *sdk.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func next(t *testing.T, s *sdk.Subscription) *sdk.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m, err := s.NextMsg(ctx)
	if err != nil {
		t.Fatalf("NextMsg on %s: %v", s.Topic, err)
	}
	return m
}

// nothing asserts that no message arrives within a short window.
func nothing(t *testing.T, s *sdk.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if m, err := s.NextMsg(ctx); err == nil {
		t.Fatalf("unexpected message on %s: %s %q", s.Topic, m.Topic, m.Data)
	}
}

func subSync(t *testing.T, c *sdk.Conn, filter string) *sdk.Subscription {
	t.Helper()
	s, err := c.SubscribeSync(filter)
	if err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
	return s
}

func TestPubSubLiteralAndWildcard(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	sub := connect(t, srv.URL)
	pub := connect(t, srv.URL)

	lit := subSync(t, sub, "orders.eu.created")
	star := subSync(t, sub, "orders.*.created")
	tail := subSync(t, sub, "orders.>")
	other := subSync(t, sub, "invoices.>")
	flush(t, sub)

	if err := pub.Publish("orders.eu.created", []byte("o1")); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("orders.us.shipped.late", []byte("o2")); err != nil {
		t.Fatal(err)
	}
	flush(t, pub)

	if m := next(t, lit); m.Topic != "orders.eu.created" || string(m.Data) != "o1" {
		t.Fatalf("literal got %s %q", m.Topic, m.Data)
	}
	nothing(t, lit)
	if m := next(t, star); string(m.Data) != "o1" {
		t.Fatalf("star got %q", m.Data)
	}
	nothing(t, star)
	if a, b := next(t, tail), next(t, tail); string(a.Data) != "o1" || string(b.Data) != "o2" || b.Topic != "orders.us.shipped.late" {
		t.Fatalf("tail got %q then %s %q", a.Data, b.Topic, b.Data)
	}
	nothing(t, other)
}

func TestHeadersAndOrder(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c := connect(t, srv.URL)
	s := subSync(t, c, "h.*")
	flush(t, c)
	for i := range 100 {
		m := &sdk.Msg{Topic: "h.x", Data: []byte(fmt.Sprint(i)), Header: sdk.Header{}}
		m.Header.Set("Seq", fmt.Sprint(i))
		m.Header.Add("Multi", "a")
		m.Header.Add("Multi", "b")
		if err := c.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		m := next(t, s)
		if string(m.Data) != fmt.Sprint(i) || m.Header.Get("Seq") != fmt.Sprint(i) || len(m.Header["Multi"]) != 2 {
			t.Fatalf("message %d: data %q header %v", i, m.Data, m.Header)
		}
	}
}

func TestQueueGroupSplitsWork(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	const members, total = 3, 300
	var mu sync.Mutex
	seen := make(map[string]int)
	perMember := make([]int, members)
	var got sync.WaitGroup
	got.Add(total)
	for i := range members {
		c := connect(t, srv.URL)
		if _, err := c.QueueSubscribe("work.>", "workers", func(m *sdk.Msg) {
			mu.Lock()
			seen[string(m.Data)]++
			perMember[i]++
			mu.Unlock()
			got.Done()
		}); err != nil {
			t.Fatal(err)
		}
		flush(t, c)
	}
	// A plain subscriber on the same topic still gets everything.
	watcher := connect(t, srv.URL)
	all := subSync(t, watcher, "work.>")
	flush(t, watcher)

	pub := connect(t, srv.URL)
	for i := range total {
		if err := pub.Publish("work.item", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, pub)
	done := make(chan struct{})
	go func() { got.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("queue group got %d of %d messages", len(seen), total)
	}
	time.Sleep(50 * time.Millisecond) // would reveal a duplicate delivery
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != total {
		t.Fatalf("distinct messages %d, want %d", len(seen), total)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("message %s delivered %d times", k, n)
		}
	}
	for i, n := range perMember {
		if n == 0 {
			t.Fatalf("member %d got no message (split %v)", i, perMember)
		}
	}
	for range total {
		next(t, all)
	}
}

func TestRequestReply(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	responder := connect(t, srv.URL)
	if _, err := responder.Subscribe("svc.echo", func(m *sdk.Msg) {
		m.Respond(append([]byte("re:"), m.Data...))
	}); err != nil {
		t.Fatal(err)
	}
	flush(t, responder)
	req := connect(t, srv.URL)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			resp, err := req.Request(ctx, "svc.echo", []byte(fmt.Sprint(i)))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if want := "re:" + fmt.Sprint(i); string(resp.Data) != want {
				t.Errorf("request %d: got %q want %q", i, resp.Data, want)
			}
		}()
	}
	wg.Wait()
}

func TestNoResponders(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c := connect(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	_, err := c.Request(ctx, "nobody.home", []byte("hi"))
	if !errors.Is(err, sdk.ErrNoResponders) {
		t.Fatalf("got %v, want ErrNoResponders", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("request waited for its deadline (%v) instead of failing at once", time.Since(start))
	}
}

func TestRetained(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	pub := connect(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, m := range []*sdk.Msg{
		{Topic: "sensors.kitchen.temp", Data: []byte("old"), Retain: true},
		{Topic: "sensors.kitchen.temp", Data: []byte("21"), Retain: true},
		{Topic: "sensors.hall.temp", Data: []byte("19"), Retain: true},
		{Topic: "sensors.hall.humidity", Data: []byte("40"), Retain: true},
	} {
		if err := pub.PublishAck(ctx, m); err != nil {
			t.Fatalf("retain %s: %v", m.Topic, err)
		}
	}
	if n := srv.B.Stats().Retained; n != 3 {
		t.Fatalf("retained count %d, want 3", n)
	}
	sub := connect(t, srv.URL)
	lit := subSync(t, sub, "sensors.kitchen.temp")
	if m := next(t, lit); string(m.Data) != "21" || !m.Retain {
		t.Fatalf("literal retained: %q retain=%v", m.Data, m.Retain)
	}
	wild := subSync(t, sub, "sensors.*.temp")
	got := map[string]string{}
	for range 2 {
		m := next(t, wild)
		if !m.Retain {
			t.Fatalf("%s not marked retained", m.Topic)
		}
		got[m.Topic] = string(m.Data)
	}
	if got["sensors.kitchen.temp"] != "21" || got["sensors.hall.temp"] != "19" {
		t.Fatalf("wildcard retained: %v", got)
	}
	nothing(t, wild)

	// Live traffic after the retained ones is not marked retained.
	if err := pub.Publish("sensors.hall.temp", []byte("20")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, wild); m.Retain || string(m.Data) != "20" {
		t.Fatalf("live message: %q retain=%v", m.Data, m.Retain)
	}

	// An empty retained publish deletes.
	if err := pub.PublishAck(ctx, &sdk.Msg{Topic: "sensors.kitchen.temp", Retain: true}); err != nil {
		t.Fatal(err)
	}
	nothing(t, lit) // the delete is not delivered as a message
	later := subSync(t, sub, "sensors.>")
	m := next(t, later)
	m2 := next(t, later)
	nothing(t, later)
	if m.Topic == "sensors.kitchen.temp" || m2.Topic == "sensors.kitchen.temp" {
		t.Fatal("deleted retained message still delivered")
	}
}

func TestUnsubscribeAndAutoUnsubscribe(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c := connect(t, srv.URL)
	s := subSync(t, c, "u.x")
	auto := subSync(t, c, "u.x")
	if err := auto.AutoUnsubscribe(3); err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	c.Publish("u.x", []byte("1"))
	next(t, s)
	if err := s.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 6; i++ {
		c.Publish("u.x", []byte(fmt.Sprint(i)))
	}
	flush(t, c)
	for _, want := range []string{"1", "2", "3"} {
		if m := next(t, auto); string(m.Data) != want {
			t.Fatalf("auto got %q want %q", m.Data, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if m, err := auto.NextMsg(ctx); err == nil {
		t.Fatalf("auto-unsubscribed subscription got %q", m.Data)
	}
	if _, err := s.NextMsg(ctx); !errors.Is(err, sdk.ErrBadSubscription) {
		t.Fatalf("unsubscribed NextMsg: %v", err)
	}
	if err := s.Unsubscribe(); !errors.Is(err, sdk.ErrBadSubscription) {
		t.Fatalf("second unsubscribe: %v", err)
	}
	if n := srv.B.Stats().Subscriptions; n != 0 {
		t.Fatalf("broker still has %d subscriptions", n)
	}
}

func TestNoEcho(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	quiet := connect(t, srv.URL, sdk.NoEcho())
	loud := connect(t, srv.URL)
	qs := subSync(t, quiet, "echo.test")
	ls := subSync(t, loud, "echo.test")
	flush(t, quiet)
	flush(t, loud)
	quiet.Publish("echo.test", []byte("from quiet"))
	loud.Publish("echo.test", []byte("from loud"))
	flush(t, quiet)
	if m := next(t, qs); string(m.Data) != "from loud" {
		t.Fatalf("no-echo conn got %q", m.Data)
	}
	nothing(t, qs)
	a, b := next(t, ls), next(t, ls)
	if string(a.Data)+string(b.Data) != "from quietfrom loud" && string(b.Data)+string(a.Data) != "from quietfrom loud" {
		t.Fatalf("echo conn got %q, %q", a.Data, b.Data)
	}
}

func TestPublishAck(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxPayload: 1024}})
	c := connect(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.PublishAck(ctx, &sdk.Msg{Topic: "ack.ok", Data: []byte("x")}); err != nil {
		t.Fatalf("ack: %v", err)
	}
	err := c.PublishAck(ctx, &sdk.Msg{Topic: "bad..topic", Data: []byte("x")})
	if !errors.Is(err, sdk.ErrBadTopic) {
		t.Fatalf("bad topic ack: %v", err)
	}
	err = c.PublishAck(ctx, &sdk.Msg{Topic: "wild.*", Data: []byte("x")})
	if !errors.Is(err, sdk.ErrBadTopic) {
		t.Fatalf("wildcard publish ack: %v", err)
	}
}

func TestOversizedPayloadRejected(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxPayload: 1024}})
	c := connect(t, srv.URL)
	if c.MaxPayload() != 1024 {
		t.Fatalf("MaxPayload %d", c.MaxPayload())
	}
	err := c.Publish("big", make([]byte, 1025))
	if !errors.Is(err, sdk.ErrPayloadTooLarge) {
		t.Fatalf("got %v", err)
	}
	// The connection is still fine.
	s := subSync(t, c, "small")
	flush(t, c)
	c.Publish("small", make([]byte, 1024))
	next(t, s)
}

func TestSlowConsumerDisconnectedFastOneKeepsReceiving(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxPending: 256 << 10}})

	// The slow consumer is a raw socket that subscribes and never reads.
	slow, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	rawHandshake(t, slow, "slow")
	rawSubscribe(t, slow, 1, "firehose")

	fast := connect(t, srv.URL)
	var got atomic.Int64
	if _, err := fast.Subscribe("firehose", func(*sdk.Msg) { got.Add(1) }); err != nil {
		t.Fatal(err)
	}
	flush(t, fast)
	waitFor(t, func() bool { return srv.B.Stats().Subscriptions == 2 })

	pub := connect(t, srv.URL)
	payload := bytes.Repeat([]byte("x"), 1024)
	// Rounds of 64 KiB, a quarter of the limit: the fast subscriber takes
	// each round in full before the next; the silent one fills its socket
	// buffers (a few MiB in the kernel) and then its 256 KiB of pending
	// bytes in the broker.
	sent := int64(0)
	for round := 0; srv.B.Stats().SlowConsumers == 0; round++ {
		if round == 1000 {
			t.Fatal("64 MiB sent and no slow consumer detected")
		}
		for range 64 {
			if err := pub.Publish("firehose", payload); err != nil {
				t.Fatal(err)
			}
		}
		sent += 64
		flush(t, pub)
		waitFor(t, func() bool { return got.Load() == sent }, "round %d: fast subscriber got %d of %d; stats %+v", round, got.Load(), sent, srv.B.Stats())
	}
	waitFor(t, func() bool { return srv.B.Stats().Connections == 2 }, "slow consumer still connected")
	expectClosed(t, slow)
	// The fast subscriber goes on receiving.
	for range 64 {
		pub.Publish("firehose", payload)
	}
	sent += 64
	waitFor(t, func() bool { return got.Load() == sent }, "fast subscriber got %d of %d", got.Load(), sent)
}

func TestMaxConnections(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxConnections: 2}})
	connect(t, srv.URL)
	second := connect(t, srv.URL)
	_, err := sdk.Connect(srv.URL)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("maximum connections")) {
		t.Fatalf("third connection: %v", err)
	}
	second.Close()
	waitFor(t, func() bool { return srv.B.Stats().Connections == 1 })
	connect(t, srv.URL)
}

func TestAuth(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{
		Authenticator: &broker.StaticAuth{Token: "s3cret", Users: map[string]string{"alice": "pw"}},
	}})
	if _, err := sdk.Connect(srv.URL); !errors.Is(err, sdk.ErrAuth) {
		t.Fatalf("no credentials: %v", err)
	}
	if _, err := sdk.Connect(srv.URL, sdk.Token("wrong")); !errors.Is(err, sdk.ErrAuth) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := sdk.Connect(srv.URL, sdk.UserInfo("alice", "nope")); !errors.Is(err, sdk.ErrAuth) {
		t.Fatalf("wrong password: %v", err)
	}
	connect(t, srv.URL, sdk.Token("s3cret"))
	connect(t, srv.URL, sdk.UserInfo("alice", "pw"))
}

func waitFor(t *testing.T, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			if len(msgAndArgs) > 0 {
				t.Fatalf("condition not met in time: "+msgAndArgs[0].(string), msgAndArgs[1:]...)
			}
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClientSideValidation(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c := connect(t, srv.URL)
	long := string(bytes.Repeat([]byte("a"), 70000))
	for name, err := range map[string]error{
		"empty topic":      c.Publish("", nil),
		"space in topic":   c.Publish("a b", nil),
		"huge topic":       c.Publish(long, nil),
		"huge filter":      func() error { _, err := c.SubscribeSync(long); return err }(),
		"huge queue":       func() error { _, err := c.QueueSubscribe("a", long, func(*sdk.Msg) {}); return err }(),
		"empty header key": c.PublishMsg(&sdk.Msg{Topic: "a", Header: sdk.Header{"": {"v"}}}),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := sdk.Connect(srv.URL, sdk.Name(long)); err == nil {
		t.Error("huge name accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.PublishAck(ctx, &sdk.Msg{Topic: long[:2000]}); !errors.Is(err, sdk.ErrBadTopic) {
		t.Errorf("2000-byte topic: %v", err)
	}
}

// The SDK checks topics and filters by the broker's own rules (package
// topics), so a bad one is refused by the call that names it, with the
// reason, and never reaches the broker: no asynchronous refusal follows.
func TestTopicRulesCheckedBeforeSending(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	async := make(chan error, 8)
	c := connect(t, srv.URL, sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) { async <- err }))
	long := string(bytes.Repeat([]byte("a"), 2000))
	for _, tc := range []struct {
		name, why string
		err       error
	}{
		{"empty token", `empty token: "a..b"`, c.Publish("a..b", nil)},
		{"wildcard publish", `wildcard in publish topic: "a.*"`, c.Publish("a.*", nil)},
		{"wildcard reply", `wildcard in publish topic: "r.>"`, c.PublishMsg(&sdk.Msg{Topic: "a", Reply: "r.>"})},
		{"full wildcard not last", `full wildcard not last: "a.>.b"`, func() error { _, err := c.SubscribeSync("a.>.b"); return err }()},
		{"wildcard inside a token", `wildcard inside a token: "a.b*"`, func() error { _, err := c.SubscribeSync("a.b*"); return err }()},
		{"too long", "topic too long", c.Publish(long, nil)},
	} {
		if !errors.Is(tc.err, sdk.ErrBadTopic) || !strings.Contains(tc.err.Error(), tc.why) {
			t.Errorf("%s: %v, want ErrBadTopic saying %s", tc.name, tc.err, tc.why)
		}
		if tc.err != nil && len(tc.err.Error()) > 200 {
			t.Errorf("%s: a %d-byte message", tc.name, len(tc.err.Error()))
		}
	}
	flush(t, c)
	select {
	case err := <-async:
		t.Errorf("the broker was sent a bad topic: %v", err)
	default:
	}
}

func TestRetainedTTL(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	c := connect(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.PublishAck(ctx, &sdk.Msg{Topic: "ttl.short", Data: []byte("soon gone"), Retain: true, TTL: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishAck(ctx, &sdk.Msg{Topic: "ttl.long", Data: []byte("stays"), Retain: true, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	first := subSync(t, c, "ttl.>")
	next(t, first)
	next(t, first)
	time.Sleep(300 * time.Millisecond)
	later := subSync(t, c, "ttl.>")
	if m := next(t, later); m.Topic != "ttl.long" {
		t.Fatalf("got %s after the short TTL expired", m.Topic)
	}
	nothing(t, later)
}
