package main

import (
	"context"
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
	Close()
}

type system struct {
	name string
	dial func() (client, error)
}

// msgtrans

type mtClient struct{ c *sdk.Conn }

func dialMsgtrans(url string) func() (client, error) {
	return func() (client, error) {
		c, err := sdk.Connect(url, sdk.SubPendingLimits(1<<24, 1<<30), sdk.MaxReconnects(0))
		if err != nil {
			return nil, err
		}
		return &mtClient{c}, nil
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

type natsClient struct{ c *nats.Conn }

func dialNATS(url string) func() (client, error) {
	return func() (client, error) {
		c, err := nats.Connect(url, nats.MaxReconnects(0))
		if err != nil {
			return nil, err
		}
		return &natsClient{c}, nil
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
