package mqtt

import (
	"context"
	"errors"
	"time"

	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/sdk/plugin"
	"github.com/msgtrans/msgtrans/wire"
)

// restore brings back the sessions the store kept. Each is offline, with
// its full expiry interval from now, and gets its broker session and
// subscriptions back at once if the broker lets the protocol open a
// session without credentials; otherwise when its client connects (and
// authenticates), so that messages published before then are not queued
// for it.
func (srv *server) restore() error {
	all, err := srv.store.load()
	if err != nil {
		return err
	}
	for _, sv := range all {
		s := &session{srv: srv, id: sv.ID, user: sv.User, replyTok: sv.ReplyTok, nextID: sv.NextID,
			subs: map[string]*subscription{}, in2: map[uint16]bool{}}
		s.expiry.Store(sv.Expiry)
		for _, ss := range sv.Subs {
			s.subs[ss.Filter] = &subscription{filter: ss.Filter, qos: packet.QoS(ss.QoS), noLocal: ss.NoLocal, rap: ss.RAP, id: ss.ID}
		}
		for _, m := range sv.Inflight {
			om, err := decodeMsg(m, false)
			if err != nil {
				return errors.Join(errors.New("mqtt session store: client "+sv.ID), err)
			}
			s.inflight = append(s.inflight, om)
		}
		for _, m := range sv.Queue {
			om, err := decodeMsg(m, true)
			if err != nil {
				return errors.Join(errors.New("mqtt session store: client "+sv.ID), err)
			}
			s.queue = append(s.queue, om)
		}
		for _, id := range sv.In2 {
			s.in2[id] = true
		}
		if w := sv.Will; w != nil {
			// Published once the session has its broker session again
			// (wake), at its due time, unless the client is back first.
			s.will = &sdk.Msg{Topic: w.Topic, Reply: w.Reply, Data: w.Data, Header: w.Header, Retain: w.Retain, TTL: w.TTL}
			s.willDue = w.Due
		}
		s.expire = time.AfterFunc(time.Duration(s.expiry.Load())*time.Second, s.expired)
		srv.sessions[s.id] = s
	}
	for _, s := range srv.sessions {
		ctx, cancel := context.WithTimeout(srv.ctx, 10*time.Second)
		conn, err := srv.brokerSession(ctx, plugin.Peer{RemoteAddr: "restored"}, s.id, nil, func() *session { return s })
		cancel()
		if err != nil {
			srv.log.Info("restored session waits for its client to authenticate", "client", s.id, "err", err)
			continue
		}
		s.wake(conn)
	}
	if len(all) > 0 {
		srv.log.Info("mqtt sessions restored", "sessions", len(all))
	}
	return nil
}

// wake gives a restored session its broker session and subscribes again.
func (s *session) wake(conn *sdk.Conn) {
	s.mu.Lock()
	s.conn = conn
	subs := make([]*subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		subs = append(subs, sub)
	}
	tok := s.replyTok
	overdue := false
	if s.will != nil && s.willAt == nil && s.cl == nil {
		// A will restored from the store: due at its time, or now if that
		// passed while the broker was down (before a client connecting
		// now is attached: it came too late to cancel it).
		if d := time.Until(s.willDue); d > 0 {
			s.willAt = time.AfterFunc(d, s.publishWill)
		} else {
			overdue = true
		}
	}
	s.mu.Unlock()
	if overdue {
		s.publishWill()
	}
	for _, sub := range subs {
		f, err := FilterToNative(sub.filter)
		if err == nil {
			err = s.subscribeNative(sub, f, sdk.RetainNever)
		}
		if err != nil {
			s.srv.log.Warn("restored subscription refused", "client", s.id, "filter", sub.filter, "err", err)
		}
	}
	if tok != "" {
		if _, err := conn.SubscribeWith(replyPrefix+tok+".>", s.relay, sdk.SubRetain(sdk.RetainNever)); err != nil {
			s.srv.log.Warn("restored reply subscription refused", "client", s.id, "err", err)
		}
	}
	// SubscribeWith only queues the subscriptions: wait until the broker
	// has them, so that what is published once the protocol says it is
	// ready (or once the client has its CONNACK) reaches the session.
	ctx, cancel := context.WithTimeout(s.srv.ctx, 10*time.Second)
	err := conn.Flush(ctx)
	cancel()
	if err != nil {
		s.srv.log.Warn("restored subscriptions not confirmed by the broker", "client", s.id, "err", err)
		return
	}
	for _, sub := range subs {
		for _, n := range sub.native {
			if err := n.ns.Err(); err != nil {
				s.srv.log.Warn("restored subscription refused", "client", s.id, "filter", sub.filter, "err", err)
			}
		}
	}
}

// brokerSession opens the broker session of an MQTT session: peer and
// creds are the client's (nil creds for a restored session), target finds
// the session when the broker ends it.
func (srv *server) brokerSession(ctx context.Context, peer plugin.Peer, clientID string, creds []sdk.Option, target func() *session) (*sdk.Conn, error) {
	opts := append([]sdk.Option{sdk.Name("mqtt " + clientID),
		// QoS 0 deliveries to a client that reads slowly wait in the SDK's
		// subscription queue (QoS 1/2 ones in the session's), within the
		// SDK's bounds (sdk.SubPendingLimits); say when it drops some.
		sdk.ErrorHandler(func(_ *sdk.Conn, sub *sdk.Subscription, err error) {
			if sub != nil && errors.Is(err, sdk.ErrSlowConsumer) {
				srv.log.Warn("client reads too slowly: QoS 0 messages dropped", "client", clientID, "filter", sub.Topic)
			}
		}),
	}, creds...)
	opts = append(opts, sdk.DisconnectHandler(func(_ *sdk.Conn, err error) {
		srv.log.Info("broker ended the session", "client", clientID, "err", err)
		code, reason := packet.ServerShuttingDown, endBroker
		var se *sdk.ServerError
		switch {
		case errors.Is(err, sdk.ErrSlowConsumer):
			code = packet.QuotaExceeded
		case errors.As(err, &se) && se.Code == wire.CodeShutdown:
			reason = endShutdown // the broker stops: a persistent session stays on disk
		}
		s := target()
		s.mu.Lock()
		c := s.cl
		s.mu.Unlock()
		if c != nil {
			c.kick(code)
		}
		s.finish(reason, nil)
	}))
	return srv.h.ConnectPeer(ctx, peer, opts...)
}
