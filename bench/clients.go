package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msgtrans/msgtrans/sdk"
)

// client is what a scenario needs of a broker client; one implementation
// per system, so both run the same scenario code.
type client interface {
	Publish(topic string, data []byte) error
	Subscribe(topic string, cb func(data []byte)) error
	// Respond answers every request on topic with its own payload.
	Respond(topic string) error
	Request(topic string, data []byte, timeout time.Duration) error
	Flush() error
	// Err is the first asynchronous error (a lost connection, dropped
	// messages), or nil.
	Err() error
	Close()
}

// asyncErr keeps the first error reported by a client's callbacks.
type asyncErr struct {
	mu  sync.Mutex
	err error
}

func (a *asyncErr) set(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil && err != nil {
		a.err = err
	}
}

func (a *asyncErr) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// system is one server reached over one transport.
type system struct {
	name      string // msgtrans or nats-server
	transport string
	dial      func() (client, error)
	// pid is the server's process, whose CPU time the large-message rows
	// report per megabyte; 0 where there is no one process (a cluster).
	pid int
	// settle is how long to wait after subscribing, before publishing: for
	// a cluster, the time for interest to reach the other nodes.
	settle time.Duration
}

// msgtrans

type mtClient struct {
	c *sdk.Conn
	asyncErr
}

func dialMsgtrans(url string, opts ...sdk.Option) func() (client, error) {
	return func() (client, error) {
		m := &mtClient{}
		c, err := sdk.Connect(url, append([]sdk.Option{
			sdk.SubPendingLimits(1<<24, 1<<30), sdk.MaxReconnects(0),
			sdk.DisconnectHandler(func(_ *sdk.Conn, err error) { m.set(fmt.Errorf("disconnected: %w", err)) }),
			sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) { m.set(err) }),
		}, opts...)...)
		if err != nil {
			return nil, err
		}
		m.c = c
		return m, nil
	}
}

func (m *mtClient) Publish(topic string, data []byte) error { return m.c.Publish(topic, data) }
func (m *mtClient) Subscribe(topic string, cb func([]byte)) error {
	_, err := m.c.Subscribe(topic, func(msg *sdk.Msg) { cb(msg.Data) })
	return err
}
func (m *mtClient) Respond(topic string) error {
	_, err := m.c.Subscribe(topic, func(msg *sdk.Msg) { msg.Respond(msg.Data) })
	return err
}
func (m *mtClient) Request(topic string, data []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := m.c.Request(ctx, topic, data)
	return err
}
func (m *mtClient) Flush() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return m.c.Flush(ctx)
}
func (m *mtClient) Close() { m.c.Close() }

// nats

type natsClient struct {
	c *nats.Conn
	asyncErr
}

func dialNATS(url string) func() (client, error) {
	return func() (client, error) {
		n := &natsClient{}
		c, err := nats.Connect(url, nats.MaxReconnects(0),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { n.set(fmt.Errorf("disconnected: %w", err)) }),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { n.set(err) }))
		if err != nil {
			return nil, err
		}
		n.c = c
		return n, nil
	}
}

func (n *natsClient) Publish(topic string, data []byte) error { return n.c.Publish(topic, data) }
func (n *natsClient) Subscribe(topic string, cb func([]byte)) error {
	s, err := n.c.Subscribe(topic, func(msg *nats.Msg) { cb(msg.Data) })
	if err == nil {
		err = s.SetPendingLimits(1<<24, 1<<30)
	}
	return err
}
func (n *natsClient) Respond(topic string) error {
	_, err := n.c.Subscribe(topic, func(msg *nats.Msg) { msg.Respond(msg.Data) })
	return err
}
func (n *natsClient) Request(topic string, data []byte, timeout time.Duration) error {
	_, err := n.c.Request(topic, data, timeout)
	return err
}
func (n *natsClient) Flush() error { return n.c.FlushTimeout(time.Minute) }
func (n *natsClient) Close()       { n.c.Close() }
