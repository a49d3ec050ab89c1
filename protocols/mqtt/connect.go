package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/sdk/plugin"
	"github.com/msgtrans/msgtrans/wire"
)

// connectInfo is what the session layer keeps of a CONNECT (the packet's
// bytes belong to the Reader).
type connectInfo struct {
	clientID   string
	assigned   bool // the server chose the identifier
	cleanStart bool
	expiry     uint32
	user       string
	hasUser    bool
	pass       string
	hasPass    bool
}

// handshake reads the CONNECT, opens or resumes the session through the
// broker (which authenticates the client) and answers CONNACK. It reports
// false if the client was refused or left.
func (cl *client) handshake() (*session, bool) {
	srv := cl.srv
	cl.nc.SetReadDeadline(time.Now().Add(srv.cfg.connectTimeout))
	cl.r = packet.NewReader(cl.nc, srv.cfg.maxPacketSize)
	pk, err := cl.r.ReadPacket()
	if err != nil {
		var pe *packet.Error
		if errors.As(err, &pe) && pe.Type == packet.TypeConnect {
			cl.v = pe.Version
			if cl.v != packet.V5 {
				cl.v = packet.V311
			}
			cl.refuse(pe.Code, pe.Reason)
		}
		return nil, false
	}
	c, ok := pk.(*packet.Connect)
	if !ok {
		return nil, false // the Reader accepts only CONNECT first
	}
	cl.v = cl.r.Version()
	cl.nc.SetReadDeadline(time.Time{})
	ci := connectInfo{
		clientID: string(c.ClientID), cleanStart: c.CleanStart,
		user: string(c.Username), hasUser: c.HasUsername, pass: string(c.Password), hasPass: c.HasPassword,
	}
	// The window toward the client: its Receive Maximum, and never more than
	// ours, so that a client that does not acknowledge holds a bounded
	// number of messages (3.1.1 clients announce none).
	cl.sendQuota = srv.cfg.receiveMaximum
	cl.problemInfo = true
	if cl.v == packet.V5 {
		pr := &c.Props
		if pr.Has(packet.PropAuthMethod) {
			cl.refuse(packet.BadAuthenticationMethod, "no authentication method is supported; use the user name and password")
			return nil, false
		}
		if pr.Has(packet.PropReceiveMaximum) {
			cl.sendQuota = min(cl.sendQuota, int(pr.ReceiveMaximum))
		}
		if pr.Has(packet.PropMaximumPacketSize) {
			cl.maxOut = int(pr.MaximumPacketSize)
		}
		if pr.Has(packet.PropRequestProblemInfo) {
			cl.problemInfo = pr.RequestProblemInfo == 1
		}
		ci.expiry = min(pr.SessionExpiry, srv.cfg.maxExpiry)
	} else if !c.CleanStart {
		ci.expiry = srv.cfg.maxExpiry // 3.1.1: kept until the client cleans it
	}
	if ci.clientID == "" {
		if cl.v < packet.V5 && !c.CleanStart {
			cl.refuse(packet.ClientIDNotValid, "an empty client identifier needs clean session") // [MQTT-3.1.3-8]
			return nil, false
		}
		var b [12]byte
		rand.Read(b[:])
		ci.clientID, ci.assigned = "auto-"+hex.EncodeToString(b[:]), true
	}
	ka := int(c.KeepAlive)
	serverKA := false
	if max := srv.cfg.maxKeepAlive; max > 0 && cl.v == packet.V5 && (ka == 0 || ka > max) {
		ka, serverKA = max, true // told in CONNACK; 3.1.1 has no way to, so its value stands
	}
	cl.keepAlive = time.Duration(ka) * 1500 * time.Millisecond
	var willOpt sdk.Option
	if w := c.Will; w != nil {
		m, delay, code, why := willMsg(cl.v, w)
		if code != 0 {
			cl.refuse(code, why)
			return nil, false
		}
		cl.will, cl.willDelay = m, delay
		// Used only for a session that ends with its connection, whose will
		// is due at once: "the Will Delay Interval has passed or the Session
		// ends, whichever happens first" (5.0 §3.1.3.2.2).
		willOpt = sdk.Will(m, 0)
	}

	s, present, code, why := srv.open(cl, &ci, willOpt)
	if code != 0 {
		cl.refuse(code, why)
		return nil, false
	}
	ack := &packet.Connack{SessionPresent: present}
	if cl.v == packet.V5 {
		pr := &ack.Props
		pr.ReceiveMaximum = uint16(srv.cfg.receiveMaximum)
		pr.MaximumPacketSize = uint32(srv.cfg.maxPacketSize)
		pr.TopicAliasMaximum = uint16(srv.cfg.topicAliasMax)
		pr.Set(packet.PropReceiveMaximum, packet.PropMaximumPacketSize, packet.PropTopicAliasMaximum)
		if ci.assigned {
			pr.AssignedClientID = []byte(ci.clientID)
			pr.Set(packet.PropAssignedClientID)
		}
		if serverKA {
			pr.ServerKeepAlive = uint16(ka)
			pr.Set(packet.PropServerKeepAlive)
		}
		if c.Props.SessionExpiry != ci.expiry {
			pr.SessionExpiry = ci.expiry
			pr.Set(packet.PropSessionExpiry)
		}
	}
	// The CONNACK first, then (under the session's lock, so no delivery
	// comes between) what was in flight and what was queued.
	s.mu.Lock()
	cl.send(ack)
	cl.s = s
	s.attachLocked(cl)
	s.mu.Unlock()
	return s, true
}

// refuse answers CONNACK with a failure code, in the form of the client's
// level.
func (cl *client) refuse(code packet.ReasonCode, why string) {
	cl.srv.log.Debug("connection refused", "remote", cl.nc.RemoteAddr().String(), "reason", code.String(), "detail", why)
	ack := &packet.Connack{ReasonCode: code}
	if cl.v < packet.V5 {
		ack.ReasonCode = code.V311Connack()
	} else if cl.problemInfo && why != "" {
		ack.Props.ReasonString = []byte(why)
		ack.Props.Set(packet.PropReasonString)
	}
	cl.send(ack)
}

// willMsg maps the will of a CONNECT to a native message.
func willMsg(v packet.Version, w *packet.Will) (*sdk.Msg, time.Duration, packet.ReasonCode, string) {
	topic, _, err := ToNative(w.Topic, nil)
	if err != nil {
		return nil, 0, packet.TopicNameInvalid, err.Error()
	}
	m := &sdk.Msg{Topic: topic, Data: append([]byte(nil), w.Payload...), Retain: w.Retain}
	var delay time.Duration
	pr := &w.Props
	if v < packet.V5 {
		pr = &packet.Properties{}
	}
	h, err := inHeader(w.QoS, pr)
	if err != nil {
		return nil, 0, packet.ImplementationSpecificError, err.Error()
	}
	m.Header = h
	if pr.Has(packet.PropMessageExpiry) {
		m.TTL = time.Duration(pr.MessageExpiry) * time.Second
	}
	if pr.Has(packet.PropWillDelay) {
		delay = time.Duration(pr.WillDelay) * time.Second
	}
	if pr.Has(packet.PropResponseTopic) {
		if m.Reply, _, err = ToNative(pr.ResponseTopic, nil); err != nil {
			return nil, 0, packet.TopicNameInvalid, err.Error()
		}
	}
	return m, delay, 0, ""
}

// open finds or makes the session of a connecting client: an existing
// session is resumed if the client asks (no clean start), it outlives its
// connections (expiry), and the same user opened it; otherwise it ends
// (its will published as a lost connection's) and a new one begins. The
// previous connection of the client identifier, if any, is closed:
// session takeover. The broker authenticates the client either way.
func (srv *server) open(cl *client, ci *connectInfo, willOpt sdk.Option) (s *session, present bool, code packet.ReasonCode, why string) {
	release := srv.lockID(ci.clientID)
	defer release()

	srv.mu.Lock()
	old := srv.sessions[ci.clientID]
	srv.mu.Unlock()
	resume := old != nil && !ci.cleanStart && old.expiry.Load() > 0 && old.user == ci.user

	var creds []sdk.Option
	switch {
	case ci.hasUser:
		creds = append(creds, sdk.UserInfo(ci.user, ci.pass))
	case ci.hasPass:
		creds = append(creds, sdk.Token(ci.pass))
	}
	brokerWill := !resume && ci.expiry == 0 && willOpt != nil
	if brokerWill {
		creds = append(creds, willOpt)
	}
	ns := &session{srv: srv, id: ci.clientID, user: ci.user, brokerWill: brokerWill,
		subs: map[string]*subscription{}, in2: map[uint16]bool{}}
	ns.expiry.Store(ci.expiry)
	ctx, cancel := context.WithTimeout(srv.ctx, 10*time.Second)
	h, err := srv.brokerSession(ctx, plugin.PeerOf(cl.nc), ci.clientID, creds, func() *session {
		if resume {
			return old
		}
		return ns
	})
	cancel()
	if err != nil {
		return nil, false, connectErrCode(err), err.Error()
	}

	if old != nil {
		old.mu.Lock()
		oldcl := old.cl
		ended := old.ended
		if resume && !ended {
			old.cl = nil
		}
		old.mu.Unlock()
		if oldcl != nil {
			oldcl.kick(packet.SessionTakenOver)
		}
		switch {
		case ended:
			resume = false
		case resume:
			// The old connection's will: published at once without a
			// delay; with one, the new connection comes in time.
			if oldcl != nil && oldcl.will != nil && oldcl.willDelay == 0 {
				old.mu.Lock()
				old.will = oldcl.will
				old.mu.Unlock()
				old.publishWill()
			}
		default:
			var w *sdk.Msg
			if oldcl != nil {
				w = oldcl.will
			}
			old.finish(endLost, w)
		}
	}
	if resume {
		old.mu.Lock()
		dormant := old.conn == nil
		old.expiry.Store(ci.expiry)
		old.mu.Unlock()
		if ci.expiry == 0 && srv.store != nil {
			srv.store.forget(old.id) // it ends with this connection now
		}
		if dormant {
			// Restored, waiting for its client's credentials: the new
			// broker session becomes the session's.
			old.wake(h)
		} else {
			// The new connection authenticated; the session's broker
			// session goes on.
			h.Close()
		}
		old.changed()
		return old, true, 0, ""
	}
	ns.conn = h
	srv.mu.Lock()
	srv.sessions[ci.clientID] = ns
	srv.mu.Unlock()
	return ns, false, 0, ""
}

// connectErrCode is the CONNACK code for the broker's refusal.
func connectErrCode(err error) packet.ReasonCode {
	switch {
	case errors.Is(err, sdk.ErrAuth):
		return packet.BadUserNameOrPassword
	case errors.Is(err, sdk.ErrPermission):
		return packet.NotAuthorized
	}
	var se *sdk.ServerError
	if errors.As(err, &se) {
		switch se.Code {
		case wire.CodeMaxConnections:
			return packet.ServerBusy
		}
	}
	return packet.ServerUnavailable
}

// lockID serializes the connections of one client identifier, so that a
// takeover sees the session as the previous connection left it.
func (srv *server) lockID(id string) (release func()) {
	for {
		srv.mu.Lock()
		ch, busy := srv.connecting[id]
		if !busy {
			ch = make(chan struct{})
			srv.connecting[id] = ch
			srv.mu.Unlock()
			return func() {
				srv.mu.Lock()
				delete(srv.connecting, id)
				srv.mu.Unlock()
				close(ch)
			}
		}
		srv.mu.Unlock()
		<-ch
	}
}
