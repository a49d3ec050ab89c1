package sdk

import (
	"context"
	"errors"
	"strconv"

	"github.com/msgtrans/msgtrans/wire"
)

// Header holds message headers: each key may have several values.
type Header map[string][]string

// Get returns the first value of key, or "".
func (h Header) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces key's values with value.
func (h Header) Set(key, value string) { h[key] = []string{value} }

// Add appends value to key's values.
func (h Header) Add(key, value string) { h[key] = append(h[key], value) }

// Msg is a message, to publish or received.
type Msg struct {
	Topic  string
	Reply  string // where a responder should answer
	Data   []byte
	Header Header
	// Retain, on publish, asks the broker to keep the message as the
	// topic's retained message (an empty Data deletes it). On a received
	// message it says the message came from the retained store.
	Retain bool
	// Sub is the subscription that received the message.
	Sub *Subscription

	conn         *Conn
	noResponders bool
}

// Respond publishes data to the message's reply topic.
func (m *Msg) Respond(data []byte) error {
	if m.Reply == "" {
		return errors.New("sdk: message has no reply topic")
	}
	if m.conn == nil {
		return errors.New("sdk: message was not received on a connection")
	}
	return m.conn.Publish(m.Reply, data)
}

// Publish sends data to topic.
func (c *Conn) Publish(topic string, data []byte) error {
	return c.publish(topic, "", nil, data, false, 0)
}

// PublishMsg sends m (its Topic, Reply, Data, Header and Retain).
func (c *Conn) PublishMsg(m *Msg) error {
	return c.publishMsg(m, 0)
}

// PublishAck sends m and waits until the broker confirms it: routed to the
// current subscribers or, for a retained message, stored durably. An error
// means the broker did not confirm: it refused the message (a *ServerError),
// or the connection was lost first (ErrConnectionLost), or ctx ended.
func (c *Conn) PublishAck(ctx context.Context, m *Msg) error {
	ch := make(chan error, 1)
	c.mu.Lock()
	c.nextAck++
	id := c.nextAck
	c.acks[id] = ch
	c.mu.Unlock()
	if err := c.publishMsg(m, id); err != nil {
		c.mu.Lock()
		delete(c.acks, id)
		c.mu.Unlock()
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.acks, id)
		c.mu.Unlock()
		return ctx.Err()
	}
}

func (c *Conn) publishMsg(m *Msg, ackID uint64) error {
	var hdr []byte
	if len(m.Header) > 0 {
		if err := wire.CheckHeader(m.Header); err != nil {
			return err
		}
		hdr = wire.AppendHeader(nil, m.Header)
	}
	return c.publish(m.Topic, m.Reply, hdr, m.Data, m.Retain, ackID)
}

func (c *Conn) publish(topic, reply string, hdr, data []byte, retain bool, ackID uint64) error {
	if err := validTopic(topic); err != nil {
		return err
	}
	if reply != "" {
		if err := validTopic(reply); err != nil {
			return err
		}
	}
	c.mu.Lock()
	switch {
	case c.state == stateClosed:
		c.mu.Unlock()
		return ErrClosed
	case c.welcome.MaxPayload > 0 && len(data) > int(c.welcome.MaxPayload):
		max := c.welcome.MaxPayload
		c.mu.Unlock()
		return &ServerError{Code: wire.CodePayloadTooLarge, Text: "payload of " + strconv.Itoa(len(data)) + " bytes exceeds the broker's limit of " + strconv.FormatUint(uint64(max), 10)}
	case c.state == stateReconnecting && len(c.wbuf)+len(data) > c.opts.ReconnectBufSize:
		c.mu.Unlock()
		return ErrReconnectBufExceeded
	}
	c.wbuf = wire.AppendPub(c.wbuf, topic, reply, hdr, data, retain, ackID)
	c.mu.Unlock()
	c.outMsgs.Add(1)
	c.outBytes.Add(uint64(len(data)))
	c.signal()
	return nil
}

// Request publishes data to topic with a reply topic in the connection's
// inbox and waits for the first reply. It returns ErrNoResponders at once
// when nothing subscribes to topic.
func (c *Conn) Request(ctx context.Context, topic string, data []byte) (*Msg, error) {
	return c.RequestMsg(ctx, &Msg{Topic: topic, Data: data})
}

// RequestMsg is Request with headers: m.Reply is replaced by an inbox topic.
func (c *Conn) RequestMsg(ctx context.Context, m *Msg) (*Msg, error) {
	if err := c.ensureInbox(); err != nil {
		return nil, err
	}
	ch := make(chan *Msg, 1)
	c.mu.Lock()
	c.nextReq++
	token := strconv.FormatUint(c.nextReq, 36)
	c.resps[token] = ch
	reply := c.inbox + token
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.resps, token)
		c.mu.Unlock()
	}()
	req := *m
	req.Reply = reply
	req.Retain = false
	if err := c.publishMsg(&req, 0); err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		if resp.noResponders {
			return nil, ErrNoResponders
		}
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closedCh:
		return nil, ErrClosed
	}
}

// ensureInbox subscribes, once, to the connection's wildcard inbox.
func (c *Conn) ensureInbox() error {
	// inboxMu makes concurrent first requests wait until the inbox
	// subscription is queued, ahead of their publishes.
	c.inboxMu.Lock()
	defer c.inboxMu.Unlock()
	c.mu.Lock()
	if c.inbox != "" {
		c.mu.Unlock()
		return nil
	}
	inbox := newInbox()
	c.inbox = inbox
	c.mu.Unlock()
	_, err := c.subscribe(inbox+"*", "", func(m *Msg) {
		token := m.Topic[len(inbox):]
		c.mu.Lock()
		ch := c.resps[token]
		delete(c.resps, token)
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	})
	if err != nil {
		c.mu.Lock()
		c.inbox = ""
		c.mu.Unlock()
	}
	return err
}
