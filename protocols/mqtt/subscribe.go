package mqtt

import (
	"context"
	"errors"
	"time"

	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
)

// subscription is one MQTT subscription of a session: one native
// subscription, or two for a filter ending in "/#".
type subscription struct {
	filter  string // as the client wrote it
	qos     packet.QoS
	noLocal bool
	rap     bool   // retain as published
	id      uint32 // 5.0 subscription identifier; 0: none
	native  []*nativeSub
}

// nativeSub is one native subscription of an MQTT subscription. Its
// callback runs on the SDK's goroutine for it, one message at a time,
// which is what lets it keep the last topic's mapping without a lock.
type nativeSub struct {
	s   *session
	sub *subscription
	ns  *sdk.Subscription

	lastNative string
	lastMQTT   []byte
	pkt        packet.Publish // QoS 0 packets are encoded from here
}

// mqttTopic returns the MQTT form of a native topic, or false if it has
// none (the message is not delivered, and counted).
func (n *nativeSub) mqttTopic(native string) ([]byte, bool) {
	if native == n.lastNative && n.lastMQTT != nil {
		return n.lastMQTT, true
	}
	// A new slice, not lastMQTT's array: queued messages keep the topic
	// they were given.
	t, err := FromNative(nil, native)
	if err != nil {
		n.s.srv.unmappable.Add(1)
		n.s.srv.log.Debug("message not delivered: its topic has no MQTT form", "client", n.s.id, "topic", native)
		return nil, false
	}
	n.lastNative, n.lastMQTT = native, t
	return t, true
}

// subscribe handles SUBSCRIBE: each filter is subscribed natively, and
// the SUBACK carries the broker's verdict on each, so that a filter the
// broker refuses (permissions, limits) is refused to the client.
func (cl *client) subscribe(p *packet.Subscribe) {
	s := cl.s
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	var subID uint32
	if len(p.Props.SubscriptionIDs) > 0 {
		subID = p.Props.SubscriptionIDs[0]
	}
	type added struct {
		i   int
		sub *subscription
	}
	var news []added
	for i, ps := range p.Subscriptions {
		filter := string(ps.Filter)
		f, err := FilterToNative(filter)
		if err != nil {
			codes[i] = cl.failCode(packet.TopicFilterInvalid)
			cl.srv.log.Debug("subscription refused", "client", s.id, "err", err)
			continue
		}
		if f.Queue != "" && cl.v < packet.V5 {
			// $share is 5.0; in 3.1.1 it is an ordinary topic, which the
			// mapping cannot tell apart: refuse rather than guess.
			codes[i] = packet.UnspecifiedError
			continue
		}
		sub := &subscription{filter: filter, qos: ps.QoS, noLocal: ps.NoLocal, rap: ps.RetainAsPublished, id: subID}
		s.mu.Lock()
		old := s.subs[filter]
		s.mu.Unlock()
		rh := sdk.RetainSend
		switch {
		case ps.RetainHandling == packet.DoNotSendRetained,
			ps.RetainHandling == packet.SendRetainedIfNew && old != nil,
			f.Queue != "": // shared subscriptions get no retained messages (5.0 §4.8.2)
			rh = sdk.RetainNever
		}
		if err := s.subscribeNative(sub, f, rh); err != nil {
			codes[i] = cl.subErrCode(err)
			continue
		}
		codes[i] = packet.ReasonCode(ps.QoS) // granted QoS: all three are served
		news = append(news, added{i, sub})
	}
	// The broker's verdict: after a flush, a refused subscription has its
	// error.
	if len(news) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.conn.Flush(ctx)
		cancel()
		for _, a := range news {
			for _, n := range a.sub.native {
				if e := n.ns.Err(); e != nil || err != nil && !n.ns.IsValid() {
					if e == nil {
						e = err
					}
					codes[a.i] = cl.subErrCode(e)
				}
			}
			if codes[a.i] >= 0x80 {
				a.sub.unsubscribe()
				continue
			}
			s.mu.Lock()
			old := s.subs[a.sub.filter]
			s.subs[a.sub.filter] = a.sub
			s.mu.Unlock()
			if old != nil {
				old.unsubscribe() // replaced ([MQTT-3.8.4-3])
			}
		}
	}
	// A persistent session's subscriptions are on disk before the client
	// is told they exist.
	ack := &packet.Suback{PacketID: p.PacketID, ReasonCodes: codes}
	s.stored(func() { cl.send(ack) })
}

// subscribeNative makes the native subscriptions of sub, mapped to f.
func (s *session) subscribeNative(sub *subscription, f Filter, rh sdk.RetainHandling) error {
	opts := []sdk.SubOption{sdk.SubRetain(rh)}
	if f.Queue != "" {
		opts = append(opts, sdk.SubQueue(f.Queue))
	}
	if sub.noLocal {
		opts = append(opts, sdk.SubNoLocal())
	}
	for _, nf := range f.Native {
		n := &nativeSub{s: s, sub: sub}
		var err error
		if n.ns, err = s.conn.SubscribeWith(nf, func(m *sdk.Msg) { s.deliver(n, m) }, opts...); err != nil {
			sub.unsubscribe()
			return err
		}
		sub.native = append(sub.native, n)
	}
	return nil
}

// subErrCode is the SUBACK code for the broker's refusal err.
func (cl *client) subErrCode(err error) packet.ReasonCode {
	cl.srv.log.Debug("subscription refused by the broker", "client", cl.s.id, "err", err)
	switch {
	case errors.Is(err, sdk.ErrPermission):
		return cl.failCode(packet.NotAuthorized)
	case errors.Is(err, sdk.ErrTooManySubs):
		return cl.failCode(packet.QuotaExceeded)
	case errors.Is(err, sdk.ErrBadTopic):
		return cl.failCode(packet.TopicFilterInvalid)
	}
	return packet.UnspecifiedError
}

// failCode is code at 5.0; 3.1.1 has only 0x80 for every failure.
func (cl *client) failCode(code packet.ReasonCode) packet.ReasonCode {
	if cl.v < packet.V5 {
		return packet.UnspecifiedError
	}
	return code
}

func (sub *subscription) unsubscribe() {
	for _, n := range sub.native {
		n.ns.Unsubscribe()
	}
}

// unsubscribe handles UNSUBSCRIBE.
func (cl *client) unsubscribe(p *packet.Unsubscribe) {
	s := cl.s
	codes := make([]packet.ReasonCode, len(p.Filters))
	for i, f := range p.Filters {
		s.mu.Lock()
		sub := s.subs[string(f)]
		delete(s.subs, string(f))
		s.mu.Unlock()
		if sub == nil {
			codes[i] = packet.NoSubscriptionExisted
			continue
		}
		sub.unsubscribe()
	}
	ack := &packet.Unsuback{PacketID: p.PacketID, ReasonCodes: codes}
	s.stored(func() { cl.send(ack) })
}
