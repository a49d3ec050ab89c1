// Package brokertest is a client of a broker in the same process, without
// any protocol or socket, for tests of the broker and its adapters.
// Programs that embed the broker use the Go SDK over the in-process
// transport instead (adapters/inproc).
package brokertest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/msgtrans/msgtrans/broker"
)

// Client is an in-process session. Its deliveries are queued like any
// session's, bounded by the broker's MaxPending, and handed to the
// subscription callbacks by one goroutine, in order.
type Client struct {
	s *broker.Session

	mu       sync.Mutex
	queue    []queued
	pending  int
	handlers map[uint32]func(*Msg)
	acks     map[uint64]func(error)
	nextAck  uint64
	nextSID  uint32
	closed   bool
	drop     bool // closed as a slow consumer: discard what is queued
	reason   error
	wake     chan struct{}
	done     chan struct{}
}

type queued struct {
	sid uint32
	m   *Msg
}

// clientConn is the Client's side of the broker's Conn contract, kept off
// the Client's own method set so that Client.Close is the user's.
type clientConn struct{ c *Client }

func (cc clientConn) Deliver(sid uint32, m *broker.Message) (int, bool) {
	return cc.c.deliver(sid, m)
}
func (cc clientConn) Close(reason error) { cc.c.stop(reason) }
func (cc clientConn) Revoke(sid uint32, _ error) {
	cc.c.mu.Lock()
	delete(cc.c.handlers, sid)
	cc.c.mu.Unlock()
}
func (cc clientConn) Ack(id uint64, err error) {
	cc.c.mu.Lock()
	fn := cc.c.acks[id]
	delete(cc.c.acks, id)
	cc.c.mu.Unlock()
	if fn != nil {
		fn(err)
	}
}

// Msg is a message delivered to a Client, copied: it belongs to the
// callback that receives it.
type Msg struct {
	Topic        string
	Reply        string
	Header       []byte // encoded header block
	Payload      []byte
	Retained     bool
	NoResponders bool
}

// ClientSub is a subscription of an in-process Client.
type ClientSub struct {
	c   *Client
	sid uint32
}

// NewClient opens a session of b named name. Close it when done.
func NewClient(b *broker.Broker, name string, noEcho bool) (*Client, error) {
	c := &Client{
		handlers: make(map[uint32]func(*Msg)),
		acks:     make(map[uint64]func(error)),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	s, err := b.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "inproc"}, Name: name, NoEcho: noEcho}, broker.Credentials{}, clientConn{c})
	if err != nil {
		return nil, err
	}
	c.s = s
	go c.dispatch()
	return c, nil
}

// Session returns the client's broker session.
func (c *Client) Session() *broker.Session { return c.s }

// Publish sends payload to topic.
func (c *Client) Publish(topic string, payload []byte) error {
	return c.s.Publish(&broker.Message{Topic: []byte(topic), Payload: payload})
}

// PublishMsg sends m. With ack set, ack is called once the broker accepted
// the message (for a retained message, once it is durable); m.AckID is
// assigned by the client.
func (c *Client) PublishMsg(m *broker.Message, ack func(error)) error {
	m.AckID = 0
	var id uint64
	if ack != nil {
		c.mu.Lock()
		c.nextAck++
		id = c.nextAck
		c.acks[id] = ack
		c.mu.Unlock()
		m.AckID = id
	}
	err := c.s.Publish(m) // it may clear m.AckID: id is kept apart
	if err != nil && ack != nil {
		c.mu.Lock()
		delete(c.acks, id)
		c.mu.Unlock()
	}
	return err
}

// Subscribe calls cb for every message on filter.
func (c *Client) Subscribe(filter string, cb func(*Msg)) (*ClientSub, error) {
	return c.QueueSubscribe(filter, "", cb)
}

// QueueSubscribe calls cb for the messages on filter that the queue group
// queue hands to this member.
func (c *Client) QueueSubscribe(filter, queue string, cb func(*Msg)) (*ClientSub, error) {
	if cb == nil {
		return nil, fmt.Errorf("broker: nil callback")
	}
	c.mu.Lock()
	c.nextSID++
	sid := c.nextSID
	c.handlers[sid] = cb
	c.mu.Unlock()
	if err := c.s.Subscribe(sid, filter, broker.SubOptions{Queue: queue}); err != nil {
		c.mu.Lock()
		delete(c.handlers, sid)
		c.mu.Unlock()
		return nil, err
	}
	return &ClientSub{c: c, sid: sid}, nil
}

// Unsubscribe stops the subscription. Messages already queued for it are
// not delivered.
func (cs *ClientSub) Unsubscribe() error {
	if err := cs.c.s.Unsubscribe(cs.sid, 0); err != nil {
		return err
	}
	cs.c.mu.Lock()
	delete(cs.c.handlers, cs.sid)
	cs.c.mu.Unlock()
	return nil
}

func (c *Client) deliver(sid uint32, d *broker.Message) (int, bool) {
	m := &Msg{
		Topic: string(d.Topic), Reply: string(d.Reply),
		Header: clone(d.Header), Payload: clone(d.Payload),
		Retained: d.Retained, NoResponders: d.NoResponders,
	}
	size := len(d.Topic) + len(d.Reply) + len(d.Header) + len(d.Payload)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, false
	}
	c.queue = append(c.queue, queued{sid, m})
	c.pending += size
	p := c.pending
	c.mu.Unlock()
	c.signal()
	return p, true
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// stop ends the client: queued messages are still handed to their
// callbacks, except for a slow consumer, whose queue is dropped.
func (c *Client) stop(reason error) {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		c.reason = reason
		c.drop = errors.Is(reason, broker.ErrSlowConsumer)
	}
	c.mu.Unlock()
	c.signal()
}

// Close ends the client's session after the messages already queued have
// been handed to their callbacks, and waits for the last callback to return.
// It must not be called from a callback. Calling it twice is safe.
func (c *Client) Close() error {
	c.stop(nil)
	<-c.done
	return nil
}

func (c *Client) dispatch() {
	defer close(c.done)
	var batch []queued
	for range c.wake {
		for {
			c.mu.Lock()
			batch, c.queue = c.queue, batch[:0]
			c.pending = 0
			closed, drop, reason := c.closed, c.drop, c.reason
			c.mu.Unlock()
			if len(batch) == 0 || drop {
				if closed {
					c.s.Close(reason)
					return
				}
				break
			}
			for i, q := range batch {
				c.mu.Lock()
				cb := c.handlers[q.sid]
				c.mu.Unlock()
				if cb != nil {
					cb(q.m)
				}
				batch[i] = queued{}
			}
		}
	}
}
