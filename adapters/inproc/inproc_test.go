package inproc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/inproc"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/wire"
)

// Close ends every session with its cause, waits for them, and refuses
// new ones.
func TestCloseEndsSessions(t *testing.T) {
	closed := make(chan error, 4)
	b, err := broker.New(broker.Options{OnEvent: func(e broker.Event) {
		if e.Kind == broker.SessionClosed {
			closed <- e.Reason
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, err := adapters.NewEngine(b, adapters.Options{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := inproc.New(e, "inproc")
	c, err := srv.Dial(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(wire.AppendHello(nil, &wire.Hello{Name: "t"})); err != nil {
		t.Fatal(err)
	}
	var f wire.Frame
	r := wire.NewReader(c, wire.DefaultMaxFrame)
	if err := r.Next(&f); err != nil || f.Type != wire.TypeWelcome {
		t.Fatalf("handshake: %v %v", f.Type, err)
	}
	if got := b.Stats().ConnectionsByProtocol["inproc"]; got != 1 {
		t.Fatalf("%d inproc sessions", got)
	}
	stop := errors.New("test over")
	srv.Close(stop) // returns once the session has ended
	if reason := <-closed; !errors.Is(reason, stop) {
		t.Fatalf("session closed with %v, want the cause", reason)
	}
	if _, err := srv.Dial(context.Background(), "late"); !errors.Is(err, inproc.ErrClosed) {
		t.Fatalf("Dial after Close: %v", err)
	}
}
