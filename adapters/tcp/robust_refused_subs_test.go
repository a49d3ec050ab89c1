package tcp_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// rawClient is a native-protocol client over TCP that reads frames one by
// one.
type rawClient struct {
	t *testing.T
	c net.Conn
	r *wire.Reader
	f wire.Frame
}

func dialRaw(t *testing.T, addr, name string, frames []byte) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: t, c: c, r: wire.NewReader(c, 0)}
	rc.write(append(wire.AppendHello(nil, &wire.Hello{Version: 1, Name: name}), frames...))
	if f := rc.next(); f == nil || f.Type != wire.TypeWelcome {
		t.Fatalf("%s: no WELCOME: %+v", name, f)
	}
	return rc
}

func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

// next returns the next frame, or nil once the broker closed the
// connection; it fails the test after 10 s without one.
func (rc *rawClient) next() *wire.Frame {
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := rc.r.Next(&rc.f); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			rc.t.Fatalf("no frame within 10 s")
		}
		return nil
	}
	return &rc.f
}

// A client whose subscription requests keep being refused (issue 14: 64
// connections x 4,096 SUBs to ">" over the per-topic limit held everyone
// else up) gets a non-fatal ERR for each of the first broker.MaxRefusals
// refusals, then a fatal TOO_MANY_SUBS that says why, and is closed, its
// accepted subscriptions with it. A client refused a few times keeps its
// connection, and the others' traffic is untouched.
func TestSessionRefusedTooOftenIsClosed(t *testing.T) {
	const perTopic = 4
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxSubscriptionsPerTopic: perTopic}})

	good := dialRaw(t, srv.Addr, "good", wire.AppendSub(nil, 1, "pair", ""))
	// An ordinary mistake, repeated: the same sid twice, ten times.
	var mistakes []byte
	for range 10 {
		mistakes = wire.AppendSub(mistakes, 1, "pair", "")
	}
	good.write(mistakes)
	for range 10 {
		f := good.next()
		if f == nil || f.Type != wire.TypeErr || f.Flags.Has(wire.FlagFatal) || f.Code != wire.CodeBadSubscription || f.SID != 1 {
			t.Fatalf("good client's duplicate sid: %+v, want a non-fatal BAD_SUBSCRIPTION for sid 1", f)
		}
	}

	// The attacker: perTopic accepted queue subscriptions to ">", then
	// refused ones, all in one burst, the last of them the one too many.
	// (Not more: the broker closes a connection at once, and a close with
	// frames still unread in its socket resets it, which could lose the
	// end of what the client is reading.)
	const burst = perTopic + broker.MaxRefusals + 1
	var b []byte
	for sid := range uint32(burst) {
		b = wire.AppendSub(b, sid+1, ">", "g")
	}
	bad := dialRaw(t, srv.Addr, "bad", b)
	refused := 0
	var fatal *wire.Frame
	for f := bad.next(); f != nil; f = bad.next() {
		if f.Type != wire.TypeErr {
			t.Fatalf("attacker got %s, want only ERRs", f.Type)
		}
		if f.Code != wire.CodeTooManySubs {
			t.Fatalf("attacker got ERR %s %q, want TOO_MANY_SUBS", f.Code, f.Text)
		}
		if f.Flags.Has(wire.FlagFatal) {
			cp := *f
			cp.Text = append([]byte(nil), f.Text...)
			fatal = &cp
			continue
		}
		if fatal != nil {
			t.Fatalf("a frame after the fatal ERR")
		}
		if want := uint32(perTopic + refused + 1); f.SID != want {
			t.Fatalf("refusal for sid %d, want %d", f.SID, want)
		}
		refused++
	}
	if refused != broker.MaxRefusals {
		t.Errorf("attacker got %d non-fatal refusals before being closed, want %d", refused, broker.MaxRefusals)
	}
	if fatal == nil || !strings.Contains(string(fatal.Text), "too many refused subscription requests") {
		t.Fatalf("attacker's last frame %+v, want a fatal TOO_MANY_SUBS saying it was refused too often", fatal)
	}
	t.Logf("attacker closed after %d refusals: %s", refused, fatal.Text)

	// Its accepted subscriptions went with it; the good client's work on.
	pub := dialRaw(t, srv.Addr, "pub", nil)
	var pubs []byte
	for i := range 100 {
		pubs = wire.AppendPub(pubs, "pair", "", nil, []byte{byte(i)}, false, 0)
	}
	pubs = wire.AppendPub(pubs, "elsewhere", "", nil, nil, false, 1)
	pub.write(pubs)
	for i := range 100 {
		f := good.next()
		if f == nil || f.Type != wire.TypeMsg || string(f.Topic) != "pair" || len(f.Payload) != 1 || f.Payload[0] != byte(i) {
			t.Fatalf("good client, message %d: %+v", i, f)
		}
	}
	if f := pub.next(); f == nil || f.Type != wire.TypeAck || f.Code != wire.CodeOK {
		t.Fatalf("publisher's ack: %+v", f)
	}
	// The attacker's session ends once its connection is closed.
	for deadline := time.Now().Add(5 * time.Second); srv.B.Stats().Connections != 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want the good client and the publisher", srv.B.Stats().Connections)
		}
	}
}
