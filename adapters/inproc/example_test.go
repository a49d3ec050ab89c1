package inproc_test

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/inproc"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
)

// A program that embeds the broker talks to it with the Go SDK, in process:
// no port, no socket.
func Example() {
	b, err := broker.New(broker.Options{})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	e, err := adapters.NewEngine(b, adapters.Options{}, "embedded")
	if err != nil {
		panic(err)
	}
	srv := inproc.New(e, "inproc")
	defer srv.Close(broker.ErrShutdown)
	dial := sdk.CustomDialer(func(ctx context.Context, _ *url.URL) (sdk.Transport, error) {
		return srv.Dial(ctx, "example")
	})

	responder, err := sdk.Connect("inproc://", dial, sdk.Name("responder"))
	if err != nil {
		panic(err)
	}
	defer responder.Close()
	responder.Subscribe("greet.*", func(m *sdk.Msg) { m.Respond([]byte("hello, " + m.Topic[len("greet."):])) })
	responder.Flush(context.Background())

	client, err := sdk.Connect("inproc://", dial)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := client.Request(ctx, "greet.gopher", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(reply.Data))
	fmt.Println(b.Stats().ConnectionsByProtocol["inproc"], "in-process sessions")
	// Output:
	// hello, gopher
	// 2 in-process sessions
}
