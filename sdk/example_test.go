package sdk_test

import (
	"context"
	"fmt"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/tcp"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
)

// exampleBroker starts an embedded broker on a free loopback port, as
// `go run ./cmd/broker` would on 127.0.0.1:8001.
func exampleBroker() (url string, stop func()) {
	b, err := broker.New(broker.Options{})
	if err != nil {
		panic(err)
	}
	e, err := adapters.NewEngine(b, adapters.Options{}, "example")
	if err != nil {
		panic(err)
	}
	a := tcp.New(e, tcp.Options{Addr: "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.Listen(ctx); err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() { a.Serve(ctx); close(done) }()
	return "tcp://" + a.Addr().String(), func() { cancel(); <-done; b.Close() }
}

func ExampleConn_Request() {
	url, stop := exampleBroker()
	defer stop()

	nc, err := sdk.Connect(url, sdk.Name("hello"))
	if err != nil {
		panic(err)
	}
	defer nc.Close()

	nc.Subscribe("greet.*", func(m *sdk.Msg) { m.Respond([]byte("hello, " + string(m.Data))) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	reply, err := nc.Request(ctx, "greet.en", []byte("world"))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(reply.Data))
	// Output: hello, world
}

func ExampleConn_Subscribe() {
	url, stop := exampleBroker()
	defer stop()
	nc, _ := sdk.Connect(url)
	defer nc.Close()

	got := make(chan *sdk.Msg, 2)
	nc.Subscribe("orders.*.created", func(m *sdk.Msg) { got <- m })
	nc.Publish("orders.eu.created", []byte("order 1"))
	nc.Publish("orders.eu.cancelled", []byte("not this one"))
	nc.Publish("orders.us.created", []byte("order 2"))
	for range 2 {
		m := <-got
		fmt.Println(m.Topic, string(m.Data))
	}
	// Output:
	// orders.eu.created order 1
	// orders.us.created order 2
}

func ExampleConn_QueueSubscribe() {
	url, stop := exampleBroker()
	defer stop()
	nc, _ := sdk.Connect(url)
	defer nc.Close()

	done := make(chan string, 10)
	for _, name := range []string{"worker-a", "worker-b"} {
		nc.QueueSubscribe("jobs", "workers", func(m *sdk.Msg) { done <- name })
	}
	for range 10 {
		nc.Publish("jobs", []byte("job"))
	}
	handled := 0
	for range 10 {
		<-done
		handled++
	}
	fmt.Println("jobs handled once each:", handled)
	// Output: jobs handled once each: 10
}

func ExampleConn_PublishAck() {
	url, stop := exampleBroker()
	defer stop()
	nc, _ := sdk.Connect(url)
	defer nc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// A retained message: new subscribers get it first.
	if err := nc.PublishAck(ctx, &sdk.Msg{Topic: "config.theme", Data: []byte("dark"), Retain: true}); err != nil {
		panic(err)
	}
	sub, _ := nc.SubscribeSync("config.>")
	m, _ := sub.NextMsg(ctx)
	fmt.Println(m.Topic, string(m.Data), "retained:", m.Retain)
	// Output: config.theme dark retained: true
}

func ExampleSubscription_NextMsg() {
	url, stop := exampleBroker()
	defer stop()
	nc, _ := sdk.Connect(url)
	defer nc.Close()

	sub, _ := nc.SubscribeSync("sensors.>")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	nc.Flush(ctx) // the subscription is in place
	nc.Publish("sensors.hall.temp", []byte("19.5"))
	m, err := sub.NextMsg(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Topic, string(m.Data))
	// Output: sensors.hall.temp 19.5
}
