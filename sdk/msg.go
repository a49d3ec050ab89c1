package sdk

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/msgtrans/msgtrans/topics"
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
	// RetainFlag, on a received message, says it was published with Retain
	// (live, or from the store).
	RetainFlag bool
	// TTL, on publish, is how long the message lives (at millisecond
	// precision): a retained message is kept that long, and a subscription
	// drops it from its queue once expired. Zero means no limit. On a
	// received message it is what was left when the broker sent it.
	TTL time.Duration
	// Sub is the subscription that received the message.
	Sub *Subscription

	conn         *Conn
	noResponders bool
	expires      time.Time // received with a TTL: dropped from the queue after this
}

func (m *Msg) expired(now time.Time) bool { return !m.expires.IsZero() && now.After(m.expires) }

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

// Publish sends data to topic. It returns once the message is queued for
// the connection's writer; while more than 512 KiB is queued (a publisher
// faster than the network or the broker), it waits for the writer.
func (c *Conn) Publish(topic string, data []byte) error {
	_, err := c.publish(context.Background(), topic, "", nil, data, false, 0, nil, false)
	return err
}

// PublishMsg sends m (its Topic, Reply, Data, Header and Retain).
func (c *Conn) PublishMsg(m *Msg) error {
	return c.publishMsg(context.Background(), m)
}

// PublishAck sends m and waits until the broker confirms it: routed to the
// current subscribers or, for a retained message, stored durably. An error
// means the broker did not confirm: it refused the message (a *ServerError),
// or the connection was lost first (ErrConnectionLost), or ctx ended.
func (c *Conn) PublishAck(ctx context.Context, m *Msg) error {
	ch := make(chan error, 1)
	// The result goes straight to ch where it arrives, not through the
	// handler goroutine (this may be running on it).
	id, err := c.publishAck(ctx, m, func(err error) { ch <- err }, true)
	if err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		c.acks.take(id)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// PublishAckAsync sends m and calls done with the broker's answer, as
// PublishAck would return it, without waiting: many confirmed publishes can
// be in flight at once. done is called exactly once, in the order the
// answers arrive, on the goroutine that runs the connection's handlers (not
// the reader): it may call any Conn method, but while it runs, later
// callbacks and handlers wait. An error return means m was not sent and
// done will not be called.
func (c *Conn) PublishAckAsync(m *Msg, done func(error)) error {
	if done == nil {
		return errNilDone
	}
	_, err := c.publishAck(context.Background(), m, done, false)
	return err
}

func (c *Conn) publishAck(ctx context.Context, m *Msg, done func(error), direct bool) (uint64, error) {
	hdr, err := encodeHeader(m.Header)
	if err != nil {
		return 0, err
	}
	return c.publish(ctx, m.Topic, m.Reply, hdr, m.Data, m.Retain, wire.TTLMillis(m.TTL), done, direct)
}

func (c *Conn) publishMsg(ctx context.Context, m *Msg) error {
	hdr, err := encodeHeader(m.Header)
	if err != nil {
		return err
	}
	_, err = c.publish(ctx, m.Topic, m.Reply, hdr, m.Data, m.Retain, wire.TTLMillis(m.TTL), nil, false)
	return err
}

func encodeHeader(h Header) ([]byte, error) {
	if len(h) == 0 {
		return nil, nil
	}
	if err := wire.CheckHeader(h); err != nil {
		return nil, err
	}
	return wire.AppendHeader(nil, h), nil
}

// waitRoomLocked waits while the write queue is full and a writer is
// taking it, until ctx ends; c.mu is held.
func (c *Conn) waitRoomLocked(ctx context.Context) error {
	if !c.queueFullLocked() {
		return nil
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			c.mu.Lock()
			c.room.Broadcast()
			c.mu.Unlock()
		})
		defer stop()
	}
	for c.queueFullLocked() {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.room.Wait()
	}
	return nil
}

// queueFullLocked reports whether a publisher must wait for the writer:
// the queue is full and a writer is taking it. c.mu is held.
func (c *Conn) queueFullLocked() bool {
	return c.state == stateConnected && c.writerUp && len(c.wbuf) >= maxWriteBuf
}

// maxWriteBuf bounds the bytes a connection queues for its writer:
// beyond it publishers wait until the writer takes the queue. Without the
// bound a publisher faster than the socket grows the queue without limit,
// and the copying of a growing buffer costs more than the wait.
const maxWriteBuf = 512 << 10

// publish queues a PUB frame; with done set it asks for an ack and
// registers done for it under the same lock, so that a disconnect either
// sees both (and fails done) or neither.
func (c *Conn) publish(ctx context.Context, topic, reply string, hdr, data []byte, retain bool, ttl uint32, done func(error), direct bool) (uint64, error) {
	if err := badTopic(topics.ValidatePublish(topic)); err != nil {
		return 0, err
	}
	if reply != "" {
		if err := badTopic(topics.ValidatePublish(reply)); err != nil {
			return 0, err
		}
	}
	c.mu.Lock()
	if err := c.waitRoomLocked(ctx); err != nil {
		c.mu.Unlock()
		return 0, err
	}
	switch {
	case c.state == stateClosed:
		c.mu.Unlock()
		return 0, ErrClosed
	case c.welcome.MaxPayload > 0 && len(data) > int(c.welcome.MaxPayload):
		max := c.welcome.MaxPayload
		c.mu.Unlock()
		return 0, &ServerError{Code: wire.CodePayloadTooLarge, Text: "payload of " + strconv.Itoa(len(data)) + " bytes exceeds the broker's limit of " + strconv.FormatUint(uint64(max), 10)}
	case c.state == stateReconnecting && len(c.wbuf)+len(data) > c.opts.ReconnectBufSize:
		c.mu.Unlock()
		return 0, ErrReconnectBufExceeded
	}
	var id uint64
	if done != nil {
		c.nextAck++
		id = c.nextAck
		c.acks.push(id, done, direct)
	}
	c.wbuf = wire.AppendPubTTL(c.wbuf, topic, reply, hdr, data, retain, id, ttl)
	c.mu.Unlock()
	c.outMsgs.Add(1)
	c.outBytes.Add(uint64(len(data)))
	c.signal()
	return id, nil
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
	if err := c.publishMsg(ctx, &req); err != nil {
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
	if c.inbox != "" && c.inboxSub.IsValid() {
		c.mu.Unlock()
		return nil
	}
	// First request, or the broker refused the inbox subscription (a
	// subscription limit): subscribe (again) with a new inbox.
	inbox := newInbox()
	c.inbox = inbox
	c.mu.Unlock()
	sub, err := c.subscribe(inbox+"*", "", func(m *Msg) {
		token, ok := strings.CutPrefix(m.Topic, inbox)
		if !ok {
			return // not a reply: a confused or hostile server
		}
		c.mu.Lock()
		ch := c.resps[token]
		delete(c.resps, token)
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	})
	c.mu.Lock()
	if err != nil {
		c.inbox = ""
	} else {
		c.inboxSub = sub
	}
	c.mu.Unlock()
	return err
}

// errNilDone is the error of an asynchronous call given no callback.
var errNilDone = errors.New("sdk: nil done callback")
