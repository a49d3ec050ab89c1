package mqtt

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/internal/batchq"
	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
)

// Bounds of a client's output: QoS 0 deliveries wait while more than
// outMax bytes are queued (the wait reaches the broker as a slow
// subscription), and a client that takes nothing for writeTimeout is
// disconnected.
const (
	outMax       = 1 << 20
	writeTimeout = 10 * time.Second
)

// client is one MQTT network connection, attached to a session.
type client struct {
	srv *server
	s   *session
	nc  net.Conn
	r   *packet.Reader
	v   packet.Version

	out     batchq.Queue[byte]
	outSize atomic.Int64 // bytes queued at the last append

	sendQuota   int           // the client's Receive Maximum
	maxOut      int           // the client's Maximum Packet Size; 0: no limit
	keepAlive   time.Duration // silence after which the client is dropped; 0: never
	problemInfo bool          // 5.0 Request Problem Information: reason strings wanted

	will      *sdk.Msg // nil: none
	willDelay time.Duration
	kicked    atomic.Bool // the server ended the connection; the reader just stops

	// The reader goroutine's own: the publish path reuses these.
	msg        sdk.Msg
	lastTopic  []byte
	lastNative string
	topicBuf   []byte
	aliases    map[uint16]string // 5.0 topic aliases the client set up, to native topics
}

func newClient(srv *server, nc net.Conn) *client {
	cl := &client{srv: srv, nc: nc}
	cl.out.Init(batchq.Config[byte]{
		Write: func(b []byte) (int, error) {
			nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			return nc.Write(b)
		},
		End:     func(error, []byte) { nc.Close() },
		KeepCap: 64 << 10,
	})
	return cl
}

// send queues a packet for the client.
func (cl *client) send(p packet.Packet) {
	b, ok := cl.out.Lock()
	if !ok {
		return
	}
	b, err := p.Append(b, cl.v)
	if err != nil {
		cl.srv.log.Error("packet not encoded", "type", p.Type(), "err", err)
	}
	cl.outSize.Store(int64(cl.out.Unlock(b)))
}

// sendAck queues PUBACK, PUBREC, PUBREL or PUBCOMP. The concrete types'
// Append is called directly, not through the Packet interface, so the
// packet stays on the stack: acknowledgements allocate nothing.
func (cl *client) sendAck(t packet.Type, id uint16, code packet.ReasonCode) {
	a := packet.Ack{PacketID: id, ReasonCode: code}
	b, ok := cl.out.Lock()
	if !ok {
		return
	}
	switch t {
	case packet.TypePuback:
		b, _ = (*packet.Puback)(&a).Append(b, cl.v)
	case packet.TypePubrec:
		b, _ = (*packet.Pubrec)(&a).Append(b, cl.v)
	case packet.TypePubrel:
		b, _ = (*packet.Pubrel)(&a).Append(b, cl.v)
	case packet.TypePubcomp:
		b, _ = (*packet.Pubcomp)(&a).Append(b, cl.v)
	}
	cl.outSize.Store(int64(cl.out.Unlock(b)))
}

// sendPublish queues a PUBLISH, without the Packet interface (see
// sendAck). A packet larger than the client's Maximum Packet Size is not
// sent ([MQTT-3.1.2-24]): it is taken back out of the queue, counted, and
// sendPublish reports false.
func (cl *client) sendPublish(p *packet.Publish) bool {
	b, ok := cl.out.Lock()
	if !ok {
		return true // the connection is gone; the session resends what needs it
	}
	start := len(b)
	b, err := p.Append(b, cl.v)
	if err != nil {
		cl.srv.log.Error("PUBLISH not encoded", "err", err)
	}
	sent := cl.maxOut == 0 || len(b)-start <= cl.maxOut
	if !sent {
		b = b[:start]
		cl.srv.tooLarge.Add(1)
	}
	cl.outSize.Store(int64(cl.out.Unlock(b)))
	return sent
}

// sendOut sends a QoS 1 or 2 message (again, with DUP, if it was sent
// before); the session's lock is held. It reports false if the message
// is larger than the client accepts, which drops it.
func (cl *client) sendOut(om *outMsg, now time.Time) bool {
	p := packet.Publish{Dup: om.sent, QoS: om.qos, Retain: om.retain, Topic: om.topic, PacketID: om.id, Payload: om.payload}
	if om.props != nil {
		if !om.expires.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			om.props.MessageExpiry = expirySeconds(om.expires.Sub(now))
		}
		p.Props = *om.props
	}
	if !cl.sendPublish(&p) {
		return false
	}
	om.sent = true
	return true
}

// sendQoS0 delivers a message at QoS 0 from n's callback goroutine,
// encoded from n's reusable packet.
func (cl *client) sendQoS0(n *nativeSub, topic []byte, m *sdk.Msg, retain bool) {
	p := &n.pkt
	*p = packet.Publish{Retain: retain, Topic: topic, Payload: m.Data}
	if cl.v == packet.V5 { // 3.1.1 has no properties: build none
		if pr := outProps(m, n.sub.id); pr != nil {
			p.Props = *pr
		}
	}
	if cl.outSize.Load() > outMax {
		cl.out.AppendWait(outMax, func(b []byte) []byte { return b })
	}
	cl.sendPublish(p)
}

// kick ends the connection from the server's side: a 5.0 client is told
// why with a DISCONNECT first.
func (cl *client) kick(code packet.ReasonCode) {
	if cl.kicked.Swap(true) {
		return
	}
	if cl.v == packet.V5 {
		cl.send(&packet.Disconnect{ReasonCode: code})
	}
	cl.out.Close(nil)
}

// serveClient runs one network connection: the CONNECT, then packets
// until the connection ends.
func serveClient(srv *server, nc net.Conn) {
	cl := newClient(srv, nc)
	defer cl.out.Wait()
	s, ok := cl.handshake()
	if !ok {
		cl.out.Close(nil)
		return
	}
	reason, will := cl.readLoop()
	cl.out.Close(nil)
	if cl.kicked.Load() && reason == endLost {
		will = false // the server ended it; takeover and shutdown see to the will
		reason = endNormal
	}
	var w *sdk.Msg
	if will {
		w = cl.will
	}
	s.detach(cl, reason, w, cl.willDelay)
}

// readLoop handles the client's packets until the connection ends, and
// says how it ended and whether the will is due.
func (cl *client) readLoop() (endReason, bool) {
	var set time.Time // when the read deadline was last moved
	for {
		if cl.keepAlive > 0 {
			// Moving the deadline costs more than reading a small packet,
			// so it moves only after a sixteenth of the period, and by that
			// much more: a silent client is dropped between 1.5 and about
			// 1.6 times its keep alive after its last packet, never before.
			if now := time.Now(); now.Sub(set) >= cl.keepAlive/16 {
				cl.nc.SetReadDeadline(now.Add(cl.keepAlive + cl.keepAlive/16))
				set = now
			}
		}
		pk, err := cl.r.ReadPacket()
		if err != nil {
			var pe *packet.Error
			var ne net.Error
			switch {
			case errors.As(err, &pe):
				cl.fail(pe.Code, pe.Reason)
			case errors.As(err, &ne) && ne.Timeout() && !cl.kicked.Load():
				cl.fail(packet.KeepAliveTimeout, "keep alive timeout")
			case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !cl.kicked.Load():
				cl.srv.log.Debug("connection lost", "client", cl.s.id, "err", err)
			}
			return endLost, true
		}
		switch p := pk.(type) {
		case *packet.Publish:
			if code, why := cl.publish(p); code != 0 {
				cl.fail(code, why)
				return endLost, true
			}
		case *packet.Puback:
			cl.s.acked(p.PacketID, packet.TypePuback)
		case *packet.Pubrec:
			if p.ReasonCode >= 0x80 {
				cl.s.acked(p.PacketID, packet.TypePubrec)
			} else if !cl.s.received(p.PacketID) {
				cl.sendAck(packet.TypePubrel, p.PacketID, packet.PacketIDNotFound)
			}
		case *packet.Pubrel:
			cl.release(p.PacketID)
		case *packet.Pubcomp:
			cl.s.acked(p.PacketID, packet.TypePubcomp)
		case *packet.Subscribe:
			if len(p.Props.SubscriptionIDs) > 0 && cl.v < packet.V5 {
				cl.fail(packet.ProtocolError, "subscription identifier at 3.1.1")
				return endLost, true
			}
			cl.subscribe(p)
		case *packet.Unsubscribe:
			cl.unsubscribe(p)
		case *packet.Pingreq:
			cl.send(&packet.Pingresp{})
		case *packet.Disconnect:
			if p.Props.Has(packet.PropSessionExpiry) {
				cl.s.mu.Lock()
				if cl.s.expiry.Load() == 0 && p.Props.SessionExpiry != 0 {
					cl.s.mu.Unlock()
					// [MQTT-3.14.2-2]
					cl.fail(packet.ProtocolError, "session expiry set on DISCONNECT after 0 on CONNECT")
					return endLost, true
				}
				cl.s.expiry.Store(min(p.Props.SessionExpiry, cl.srv.cfg.maxExpiry))
				cl.s.mu.Unlock()
			}
			if p.ReasonCode == packet.DisconnectWithWill {
				return endLost, true
			}
			return endNormal, false
		default:
			// A second CONNECT, or a packet only a server sends, or AUTH
			// (no authentication method was accepted).
			cl.fail(packet.ProtocolError, "unexpected "+pk.Type().String())
			return endLost, true
		}
	}
}

// fail ends the connection for a protocol violation: a 5.0 client gets a
// DISCONNECT with the reason code first.
func (cl *client) fail(code packet.ReasonCode, why string) {
	cl.srv.log.Debug("closing client", "client", cl.s.id, "reason", code.String(), "detail", why)
	if cl.v == packet.V5 {
		d := &packet.Disconnect{ReasonCode: code}
		if cl.problemInfo && why != "" {
			d.Props.ReasonString = []byte(why)
			d.Props.Set(packet.PropReasonString)
		}
		cl.send(d)
	}
}

// publish handles an MQTT PUBLISH. A QoS 1 PUBACK or QoS 2 PUBREC goes
// out only once the broker has accepted the message (PublishAckAsync), so
// that nothing the client was told is received can be lost. It returns a
// reason code to disconnect with, or 0.
func (cl *client) publish(p *packet.Publish) (packet.ReasonCode, string) {
	if p.Props.Has(packet.PropSubscriptionID) {
		return packet.ProtocolError, "subscription identifier in a client's PUBLISH" // [MQTT-3.3.4-6]
	}
	native, code, why := cl.nativeTopic(p)
	if code != 0 {
		if p.QoS > 0 && cl.v == packet.V5 && code == packet.TopicNameInvalid {
			// Refused, not a protocol error: answer and go on.
			cl.pubResult(cl.ackType(p.QoS), p.PacketID, code, why)
			return 0, ""
		}
		return code, why
	}
	s := cl.s
	m := &cl.msg
	*m = sdk.Msg{Topic: native, Data: p.Payload, Retain: p.Retain}
	if cl.v == packet.V5 && !p.Props.Empty() {
		h, err := inHeader(p.QoS, &p.Props)
		if err != nil {
			if p.QoS == 0 {
				return 0, "" // nothing to answer on; dropped
			}
			cl.pubResult(cl.ackType(p.QoS), p.PacketID, packet.ImplementationSpecificError, err.Error())
			return 0, ""
		}
		m.Header = h
		if p.Props.Has(packet.PropMessageExpiry) {
			m.TTL = time.Duration(p.Props.MessageExpiry) * time.Second
		}
		if p.Props.Has(packet.PropResponseTopic) {
			reply, _, err := ToNative(p.Props.ResponseTopic, nil)
			if err != nil {
				if p.QoS > 0 {
					cl.pubResult(cl.ackType(p.QoS), p.PacketID, packet.TopicNameInvalid, err.Error())
				}
				return 0, ""
			}
			m.Reply = reply
			if p.Props.Has(packet.PropCorrelationData) {
				m.Reply = s.replyTopic(reply, p.Props.CorrelationData)
			}
		}
	} else if p.QoS > 0 {
		m.Header = cl.srv.qosHeader[p.QoS]
	}
	switch p.QoS {
	case 0:
		if err := s.conn.PublishMsg(m); err != nil {
			cl.srv.log.Debug("QoS 0 publish dropped", "client", s.id, "err", err)
		}
		return 0, ""
	case 1:
		s.mu.Lock()
		if s.inQoS1+len(s.in2) >= cl.srv.cfg.receiveMaximum {
			s.mu.Unlock()
			return packet.ReceiveMaximumExceeded, ""
		}
		s.inQoS1++
		s.mu.Unlock()
		id := p.PacketID
		err := s.conn.PublishAckAsync(m, func(err error) {
			s.mu.Lock()
			s.inQoS1--
			s.mu.Unlock()
			cl.pubDone(packet.TypePuback, id, err)
		})
		if err != nil {
			s.mu.Lock()
			s.inQoS1--
			s.mu.Unlock()
			cl.pubDone(packet.TypePuback, id, err)
		}
		return 0, ""
	}
	// QoS 2: the packet identifier is remembered from the first PUBLISH
	// until PUBREL, across reconnections, and a PUBLISH seen again in that
	// time is not published again: exactly once.
	id := p.PacketID
	s.mu.Lock()
	if done, seen := s.in2[id]; seen {
		s.mu.Unlock()
		if done {
			cl.sendAck(packet.TypePubrec, id, packet.Success)
		} // else the PUBREC goes out when the broker's answer comes
		return 0, ""
	}
	if s.inQoS1+len(s.in2) >= cl.srv.cfg.receiveMaximum {
		s.mu.Unlock()
		return packet.ReceiveMaximumExceeded, ""
	}
	s.in2[id] = false
	s.mu.Unlock()
	done := func(err error) {
		s.mu.Lock()
		if err != nil {
			delete(s.in2, id)
		} else {
			s.in2[id] = true
		}
		s.mu.Unlock()
		answer := func() {
			s.mu.Lock()
			cur := s.cl
			s.mu.Unlock()
			if cur != nil {
				cur.pubDone(packet.TypePubrec, id, err)
			}
		}
		if err != nil {
			answer()
			return
		}
		// PUBREC once the identifier is on disk: after a crash, a PUBLISH
		// sent again is then known, and not published twice.
		s.stored(answer)
	}
	if err := s.conn.PublishAckAsync(m, done); err != nil {
		done(err)
	}
	return 0, ""
}

func (cl *client) ackType(q packet.QoS) packet.Type {
	if q == 2 {
		return packet.TypePubrec
	}
	return packet.TypePuback
}

// nativeTopic resolves the topic of a PUBLISH: its topic alias, and its
// native form (the last one is reused while it repeats).
func (cl *client) nativeTopic(p *packet.Publish) (string, packet.ReasonCode, string) {
	if p.Props.Has(packet.PropTopicAlias) {
		a := p.Props.TopicAlias
		if int(a) > cl.srv.cfg.topicAliasMax {
			return "", packet.TopicAliasInvalid, "topic alias above the maximum"
		}
		if len(p.Topic) == 0 {
			t, ok := cl.aliases[a]
			if !ok {
				return "", packet.ProtocolError, "unknown topic alias"
			}
			return t, 0, ""
		}
		native, code, why := cl.mapTopic(p.Topic)
		if code == 0 {
			if cl.aliases == nil {
				cl.aliases = map[uint16]string{}
			}
			cl.aliases[a] = native
		}
		return native, code, why
	}
	return cl.mapTopic(p.Topic)
}

func (cl *client) mapTopic(t []byte) (string, packet.ReasonCode, string) {
	if cl.lastTopic != nil && bytes.Equal(t, cl.lastTopic) {
		return cl.lastNative, 0, ""
	}
	native, buf, err := ToNative(t, cl.topicBuf)
	cl.topicBuf = buf
	if err != nil {
		return "", packet.TopicNameInvalid, err.Error()
	}
	cl.lastTopic = append(cl.lastTopic[:0], t...)
	cl.lastNative = native
	return native, 0, ""
}

// pubDone answers a QoS 1 or 2 publish with the broker's verdict. A
// refusal is a reason code at 5.0; 3.1.1 has no way to say it, and the
// connection is closed rather than the message acknowledged
// ([MQTT-3.3.5-2] allows either; an acknowledgement would be a lie).
func (cl *client) pubDone(t packet.Type, id uint16, err error) {
	if err == nil {
		cl.sendAck(t, id, packet.Success)
		return
	}
	cl.pubResult(t, id, pubErrCode(err), err.Error())
}

func (cl *client) pubResult(t packet.Type, id uint16, code packet.ReasonCode, why string) {
	if cl.v < packet.V5 {
		cl.srv.log.Info("publish refused; closing the 3.1.1 client, which cannot be told", "client", cl.s.id, "reason", why)
		cl.out.Close(nil) // the reader sees the connection end; the will is due
		return
	}
	a := packet.Ack{PacketID: id, ReasonCode: code}
	if cl.problemInfo {
		a.Props.ReasonString = []byte(why)
		a.Props.Set(packet.PropReasonString)
	}
	if t == packet.TypePubrec {
		cl.send((*packet.Pubrec)(&a))
	} else {
		cl.send((*packet.Puback)(&a))
	}
}

func pubErrCode(err error) packet.ReasonCode {
	switch {
	case errors.Is(err, sdk.ErrPermission):
		return packet.NotAuthorized
	case errors.Is(err, sdk.ErrBadTopic):
		return packet.TopicNameInvalid
	case errors.Is(err, sdk.ErrPayloadTooLarge):
		return packet.QuotaExceeded
	}
	var se *sdk.ServerError
	if errors.As(err, &se) {
		return packet.ImplementationSpecificError
	}
	return packet.UnspecifiedError
}

// release handles PUBREL: the QoS 2 exchange ends with PUBCOMP.
func (cl *client) release(id uint16) {
	s := cl.s
	s.mu.Lock()
	done, seen := s.in2[id]
	if seen && done {
		delete(s.in2, id)
		s.changed()
	}
	s.mu.Unlock()
	code := packet.Success
	if !seen || !done {
		code = packet.PacketIDNotFound
	}
	cl.sendAck(packet.TypePubcomp, id, code)
}
