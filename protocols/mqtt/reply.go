package mqtt

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/topics"
)

// Request-response between MQTT 5 and native clients.
//
// An MQTT 5 request has a response topic and, usually, correlation data,
// which the responder must send back. A native responder answers the
// reply topic with Respond and knows nothing of correlation data, so the
// correlation data travels inside the reply topic:
//
//	_MQTT.reply.<session token>.c<correlation data, base64url>.<native response topic>
//
// The requester's session subscribes to _MQTT.reply.<its token>.> and
// publishes each reply it receives there to the response topic with the
// correlation data (the MQTT-Correlation-Data header), where the MQTT
// requester is subscribed. An MQTT responder is given the response topic
// and correlation data themselves (see outProps), and answers the response
// topic directly. A request without correlation data has the mapped
// response topic as its reply topic; one whose correlation data does not
// fit in a topic keeps it in the header only.
const replyPrefix = "_MQTT.reply."

var b64 = base64.RawURLEncoding

// replyTopic returns the native reply topic of a request from s.
func (s *session) replyTopic(respNative string, corr []byte) string {
	tok := s.replyToken()
	if tok == "" {
		return respNative
	}
	reply := replyPrefix + tok + ".c" + b64.EncodeToString(corr) + "." + respNative
	if topics.ValidatePublish(reply) != nil {
		return respNative // too long: the header carries the correlation data
	}
	return reply
}

// replyToken returns the session's token, subscribing to its replies the
// first time; "" if the broker refused the subscription.
func (s *session) replyToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replyTok != "" {
		return s.replyTok
	}
	var b [9]byte
	rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	_, err := s.conn.SubscribeWith(replyPrefix+tok+".>", s.relay, sdk.SubRetain(sdk.RetainNever))
	if err != nil {
		return ""
	}
	s.replyTok = tok
	return tok
}

// parseReply splits a reply topic made by replyTopic.
func parseReply(reply string) (respNative string, corr []byte, ok bool) {
	rest, ok := strings.CutPrefix(reply, replyPrefix)
	if !ok {
		return "", nil, false
	}
	_, rest, _ = strings.Cut(rest, ".")
	c, topic, ok := strings.Cut(rest, ".")
	if !ok || !strings.HasPrefix(c, "c") || topic == "" {
		return "", nil, false
	}
	corr, err := b64.DecodeString(c[1:])
	if err != nil {
		return "", nil, false
	}
	return topic, corr, true
}

// relay publishes a reply to the requester's response topic, with the
// correlation data.
func (s *session) relay(m *sdk.Msg) {
	if m.NoResponders() {
		return // MQTT has no such answer: the requester times out, as it would
	}
	topic, corr, ok := parseReply(m.Topic)
	if !ok {
		return
	}
	h := sdk.Header{}
	for k, v := range m.Header {
		h[k] = v
	}
	h.Set(HeaderCorrelation, base64.StdEncoding.EncodeToString(corr))
	if err := s.conn.PublishMsg(&sdk.Msg{Topic: topic, Data: m.Data, Header: h, TTL: m.TTL}); err != nil {
		s.srv.log.Debug("reply not relayed", "client", s.id, "err", err)
	}
}
