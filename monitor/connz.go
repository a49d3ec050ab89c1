package monitor

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

// Connz is /connz: one page of connections.
type Connz struct {
	Now    time.Time  `json:"now"`
	Total  int        `json:"total"` // connections that pass the filters
	Offset int        `json:"offset"`
	Limit  int        `json:"limit"`
	Count  int        `json:"count"` // connections on this page
	Sort   string     `json:"sort"`
	State  string     `json:"state"`
	Conns  []ConnInfo `json:"connections"`
}

// ConnInfo is one connection in /connz.
type ConnInfo struct {
	ID            uint64     `json:"id"`
	Protocol      string     `json:"protocol"`
	Name          string     `json:"name,omitempty"`
	User          string     `json:"user,omitempty"`
	Remote        string     `json:"remote"`
	TLS           bool       `json:"tls"`
	TLSVersion    string     `json:"tls_version,omitempty"`
	TLSCipher     string     `json:"tls_cipher,omitempty"`
	Subscriptions int        `json:"subscriptions"`
	MsgsIn        uint64     `json:"in_msgs"`
	BytesIn       uint64     `json:"in_bytes"`
	MsgsOut       uint64     `json:"out_msgs"`
	BytesOut      uint64     `json:"out_bytes"`
	Pending       int        `json:"pending_bytes"` // -1: the transport does not say
	Start         time.Time  `json:"start"`
	Uptime        string     `json:"uptime"`
	LastActivity  time.Time  `json:"last_activity"`
	Idle          string     `json:"idle"`
	IdleSecs      float64    `json:"idle_seconds"`
	Stop          *time.Time `json:"stop,omitempty"`   // closed connections only
	Reason        string     `json:"reason,omitempty"` // why it closed; empty for a clean close
	Subs          []SubInfo  `json:"subscriptions_list,omitempty"`
}

// SubInfo is one subscription of a connection (/connz?subs=1).
type SubInfo struct {
	SID       uint32 `json:"sid"`
	Filter    string `json:"filter"`
	Queue     string `json:"queue,omitempty"`
	Delivered uint64 `json:"delivered"`
}

// connSorts are /connz's sort keys; every one but id and idle sorts
// largest first (idle: most idle first).
var connSorts = map[string]func(a, b *ConnInfo) int{
	"id":       func(a, b *ConnInfo) int { return cmp.Compare(a.ID, b.ID) },
	"msgs":     func(a, b *ConnInfo) int { return cmp.Compare(b.MsgsIn+b.MsgsOut, a.MsgsIn+a.MsgsOut) },
	"msgs_in":  func(a, b *ConnInfo) int { return cmp.Compare(b.MsgsIn, a.MsgsIn) },
	"msgs_out": func(a, b *ConnInfo) int { return cmp.Compare(b.MsgsOut, a.MsgsOut) },
	"bytes":    func(a, b *ConnInfo) int { return cmp.Compare(b.BytesIn+b.BytesOut, a.BytesIn+a.BytesOut) },
	"bytes_in": func(a, b *ConnInfo) int { return cmp.Compare(b.BytesIn, a.BytesIn) },
	"bytes_out": func(a, b *ConnInfo) int {
		return cmp.Compare(b.BytesOut, a.BytesOut)
	},
	"pending": func(a, b *ConnInfo) int { return cmp.Compare(b.Pending, a.Pending) },
	"idle":    func(a, b *ConnInfo) int { return cmp.Compare(b.IdleSecs, a.IdleSecs) },
	"uptime":  func(a, b *ConnInfo) int { return a.Start.Compare(b.Start) },
	"subs":    func(a, b *ConnInfo) int { return cmp.Compare(b.Subscriptions, a.Subscriptions) },
}

// maxLimit bounds one page.
const maxLimit = 10000

// page reads offset and limit.
func page(r *http.Request, def int) (offset, limit int, err error) {
	q := r.URL.Query()
	offset, limit = 0, def
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("offset %q: want a non-negative integer", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLimit {
			return 0, 0, fmt.Errorf("limit %q: want 1 to %d", v, maxLimit)
		}
	}
	return offset, limit, nil
}

func (s *Server) connz(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit, err := page(r, 100)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	sortBy := cmp.Or(q.Get("sort"), "id")
	less, ok := connSorts[sortBy]
	if !ok {
		badRequest(w, fmt.Sprintf("sort %q: want one of id, msgs, msgs_in, msgs_out, bytes, bytes_in, bytes_out, pending, idle, uptime, subs", sortBy))
		return
	}
	state := cmp.Or(q.Get("state"), "open")
	if state != "open" && state != "closed" && state != "all" {
		badRequest(w, fmt.Sprintf("state %q: want open, closed or all", state))
		return
	}
	proto, user, withSubs := q.Get("protocol"), q.Get("user"), q.Get("subs") == "1" || q.Get("subs") == "true"
	keep := func(c *ConnInfo) bool {
		return (proto == "" || c.Protocol == proto) && (user == "" || c.User == user)
	}
	now := time.Now()
	// Pointers are sorted, not the structs: with thousands of connections
	// the copies were most of the cost.
	var all []*ConnInfo
	if state != "closed" {
		for _, ss := range s.b.Sessions() {
			c := s.openConn(ss, now, withSubs)
			if keep(&c) {
				all = append(all, &c)
			}
		}
	}
	if state != "open" {
		for _, cc := range s.act.closedConns() {
			c := closedInfo(cc)
			if keep(&c) {
				all = append(all, &c)
			}
		}
	}
	slices.SortFunc(all, func(a, b *ConnInfo) int {
		if c := less(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID) // ids are unique: a total order
	})
	resp := Connz{Now: now.UTC(), Total: len(all), Offset: offset, Limit: limit, Sort: sortBy, State: state, Conns: []ConnInfo{}}
	if offset < len(all) {
		for _, c := range all[offset:min(offset+limit, len(all))] {
			resp.Conns = append(resp.Conns, *c)
		}
	}
	resp.Count = len(resp.Conns)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) openConn(ss *broker.Session, now time.Time, withSubs bool) ConnInfo {
	info, st := ss.Info(), ss.Stats()
	last := s.act.lastActive(ss)
	c := connInfo(info, st)
	c.Pending = ss.Pending()
	c.Uptime = now.Sub(info.Opened).Round(time.Second).String()
	c.LastActivity = last.UTC()
	c.IdleSecs = max(now.Sub(last), 0).Seconds()
	c.Idle = max(now.Sub(last), 0).Round(time.Second).String()
	if withSubs {
		for _, sub := range ss.Subscriptions() {
			c.Subs = append(c.Subs, SubInfo{SID: sub.SID, Filter: sub.Filter, Queue: sub.Queue, Delivered: sub.Delivered})
		}
	}
	return c
}

func closedInfo(cc closedConn) ConnInfo {
	c := connInfo(cc.info, cc.stats)
	stop := cc.at.UTC()
	c.Stop = &stop
	c.Pending = 0
	c.Uptime = cc.at.Sub(cc.info.Opened).Round(time.Second).String()
	c.LastActivity = stop
	if cc.reason != nil {
		c.Reason = cc.reason.Error()
	}
	return c
}

func connInfo(info broker.SessionInfo, st broker.SessionStats) ConnInfo {
	c := ConnInfo{
		ID: info.ID, Protocol: info.Protocol, Name: info.Name, User: info.User, Remote: info.RemoteAddr,
		Subscriptions: st.Subscriptions, MsgsIn: st.MsgsIn, BytesIn: st.BytesIn, MsgsOut: st.MsgsOut, BytesOut: st.BytesOut,
		Start: info.Opened.UTC(),
	}
	if info.TLS != nil {
		c.TLS = true
		c.TLSVersion = tls.VersionName(info.TLS.Version)
		c.TLSCipher = tls.CipherSuiteName(info.TLS.CipherSuite)
	}
	return c
}
