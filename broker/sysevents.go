package broker

import (
	"encoding/json"
	"errors"
	"time"
)

// System events: the broker publishes what happens to sessions on topics
// under "$SYS", as JSON, for whoever subscribes (and may: subscribing is
// checked like any other). A plain ">" does not match them (see
// topics.IsSystem). Nothing is encoded while nobody subscribes.
const (
	SysConnOpened = "$SYS.conn.opened" // a session opened
	SysConnClosed = "$SYS.conn.closed" // a session ended; reason says why
	SysConnSlow   = "$SYS.conn.slow"   // a session was closed as a slow consumer
	SysAuthFailed = "$SYS.auth.failed" // a client's credentials were refused

	SysPluginCrashed   = "$SYS.plugin.crashed"   // a plugin's process exited or its Serve returned; its sessions were closed
	SysPluginRestarted = "$SYS.plugin.restarted" // a plugin was started again after a crash
)

// SysEvent is the payload of a system event.
type SysEvent struct {
	Server   string    `json:"server"` // the broker's id
	Time     time.Time `json:"time"`
	Session  uint64    `json:"session,omitempty"` // 0 when no session opened
	Protocol string    `json:"protocol"`
	Remote   string    `json:"remote"`
	Name     string    `json:"name,omitempty"`
	User     string    `json:"user,omitempty"`
	// Reason is why a session closed or a client was refused; empty for a
	// clean close by the client.
	Reason string `json:"reason,omitempty"`
}

// sysEvent publishes an event about info on topic, if anyone subscribes.
// It must not be called with a session's lock held: delivering takes the
// subscribers' locks.
func (b *Broker) sysEvent(topic string, info SessionInfo, user string, reason error) {
	if res, err := b.interest.tree.Match(topic); err != nil || res.Empty() {
		return
	}
	e := SysEvent{
		Server: b.id, Time: time.Now().UTC(), Session: info.ID, Protocol: info.Protocol,
		Remote: info.RemoteAddr, Name: info.Name, User: user,
	}
	if reason != nil {
		e.Reason = reason.Error()
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return // cannot happen: every field encodes
	}
	b.interest.route(nil, &Message{Topic: []byte(topic), Payload: payload}, nil, nil)
}

// sessionEnded publishes the events of a session that has ended.
func (b *Broker) sessionEnded(info SessionInfo, reason error) {
	b.sysEvent(SysConnClosed, info, info.User, reason)
	if errors.Is(reason, ErrSlowConsumer) {
		b.sysEvent(SysConnSlow, info, info.User, reason)
	}
}

// PluginEvent is the payload of a plugin's system event.
type PluginEvent struct {
	Server string    `json:"server"`
	Time   time.Time `json:"time"`
	Plugin string    `json:"plugin"`
	PID    int       `json:"pid,omitempty"` // 0 (absent) for a protocol linked into the broker
	// Restarts counts the plugin's restarts since the broker started,
	// this one included on $SYS.plugin.restarted.
	Restarts int    `json:"restarts"`
	Reason   string `json:"reason,omitempty"` // why it ended, on $SYS.plugin.crashed
}

// PluginCrashed publishes $SYS.plugin.crashed: plugin (whose process was
// pid, 0 when linked) ended for reason.
func (b *Broker) PluginCrashed(plugin string, pid, restarts int, reason error) {
	e := PluginEvent{Plugin: plugin, PID: pid, Restarts: restarts}
	if reason != nil {
		e.Reason = reason.Error()
	}
	b.pluginEvent(SysPluginCrashed, e)
}

// PluginRestarted publishes $SYS.plugin.restarted: plugin runs again, as
// process pid (0 when linked), after its restarts-th restart.
func (b *Broker) PluginRestarted(plugin string, pid, restarts int) {
	b.pluginEvent(SysPluginRestarted, PluginEvent{Plugin: plugin, PID: pid, Restarts: restarts})
}

func (b *Broker) pluginEvent(topic string, e PluginEvent) {
	if res, err := b.interest.tree.Match(topic); err != nil || res.Empty() {
		return
	}
	e.Server, e.Time = b.id, time.Now().UTC()
	payload, err := json.Marshal(e)
	if err != nil {
		return // cannot happen: every field encodes
	}
	b.interest.route(nil, &Message{Topic: []byte(topic), Payload: payload}, nil, nil)
}
