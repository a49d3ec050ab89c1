package monitor

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/msgtrans/msgtrans/topics"
)

// Subsz is /subsz: the broker's interest, and who a test topic reaches.
type Subsz struct {
	Now           time.Time    `json:"now"`
	Subscriptions int          `json:"subscriptions"` // over all sessions
	Filters       int          `json:"filters"`       // distinct (filter, queue group) pairs
	QueueGroups   int          `json:"queue_groups"`  // of those, the queue groups
	Total         int          `json:"total"`         // entries that pass ?filter=
	Offset        int          `json:"offset"`
	Limit         int          `json:"limit"`
	Entries       []SubEntry   `json:"entries"`
	Test          *SubTestInfo `json:"test,omitempty"`
}

// SubEntry is one (filter, queue group) with subscribers.
type SubEntry struct {
	Filter      string `json:"filter"`
	Queue       string `json:"queue,omitempty"`
	Subscribers int    `json:"subscribers"`
}

// SubTestInfo answers ?test=topic: who a message published on the topic
// now would be offered to.
type SubTestInfo struct {
	Topic     string      `json:"topic"`
	Receivers []SubTarget `json:"receivers"`
	// Deliveries is how many copies the message would make: one per plain
	// subscription, one per queue group.
	Deliveries int `json:"deliveries"`
}

// SubTarget is one subscription a test topic matches.
type SubTarget struct {
	Conn     uint64 `json:"conn,omitempty"` // 0 for another cluster node's interest
	Node     string `json:"node,omitempty"`
	Name     string `json:"name,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	SID      uint32 `json:"sid,omitempty"`
	Filter   string `json:"filter"`
	Queue    string `json:"queue,omitempty"` // one member of each queue group gets the message
}

func (s *Server) subsz(w http.ResponseWriter, r *http.Request) {
	offset, limit, err := page(r, 1000)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	q := r.URL.Query()
	var test *SubTestInfo
	if topic := q.Get("test"); topic != "" {
		if err := topics.ValidatePublish(topic); err != nil {
			badRequest(w, "test: "+err.Error())
			return
		}
		if test, err = s.testTopic(topic); err != nil {
			badRequest(w, "test: "+err.Error())
			return
		}
	}
	interest := s.b.Interest()
	resp := Subsz{Now: time.Now().UTC(), Filters: len(interest), Offset: offset, Limit: limit, Entries: []SubEntry{}, Test: test}
	contains := q.Get("filter")
	var entries []SubEntry
	for _, in := range interest {
		resp.Subscriptions += in.Subscribers
		if in.Queue != "" {
			resp.QueueGroups++
		}
		if contains == "" || strings.Contains(in.Filter, contains) {
			entries = append(entries, SubEntry{Filter: in.Filter, Queue: in.Queue, Subscribers: in.Subscribers})
		}
	}
	slices.SortFunc(entries, func(a, b SubEntry) int {
		return cmp.Or(cmp.Compare(a.Filter, b.Filter), cmp.Compare(a.Queue, b.Queue))
	})
	resp.Total = len(entries)
	if offset < len(entries) {
		resp.Entries = entries[offset:min(offset+limit, len(entries))]
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) testTopic(topic string) (*SubTestInfo, error) {
	rs, err := s.b.Receivers(topic)
	if err != nil {
		return nil, err
	}
	t := &SubTestInfo{Topic: topic, Receivers: []SubTarget{}}
	groups := map[[2]string]bool{}
	for _, rc := range rs {
		st := SubTarget{Conn: rc.Session, Node: rc.Node, SID: rc.SID, Filter: rc.Filter, Queue: rc.Queue}
		if rc.Session != 0 {
			if ss, ok := s.b.Session(rc.Session); ok {
				info := ss.Info()
				st.Name, st.Protocol = info.Name, info.Protocol
			}
		}
		t.Receivers = append(t.Receivers, st)
		if rc.Queue == "" {
			t.Deliveries++
		} else if k := [2]string{rc.Filter, rc.Queue}; !groups[k] {
			groups[k] = true
			t.Deliveries++
		}
	}
	return t, nil
}
