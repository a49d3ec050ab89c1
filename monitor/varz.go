package monitor

import (
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"time"
)

// Varz is /varz: the server, its configuration summary and its counters.
type Varz struct {
	ServerID   string         `json:"server_id"`
	Version    string         `json:"version"`
	GoVersion  string         `json:"go"`
	Start      time.Time      `json:"start"`
	Now        time.Time      `json:"now"`
	Uptime     string         `json:"uptime"`
	UptimeSecs float64        `json:"uptime_seconds"`
	Config     map[string]any `json:"config"`

	Connections       int                      `json:"connections"`
	TotalConnections  uint64                   `json:"total_connections"`
	Protocols         map[string]ProtocolCount `json:"protocols"`
	MsgsIn            uint64                   `json:"in_msgs"`
	BytesIn           uint64                   `json:"in_bytes"`
	MsgsOut           uint64                   `json:"out_msgs"`
	BytesOut          uint64                   `json:"out_bytes"`
	SlowConsumers     uint64                   `json:"slow_consumers"`
	AuthFailures      uint64                   `json:"auth_failures"`
	PermissionDenials uint64                   `json:"permission_denials"`
	Subscriptions     int                      `json:"subscriptions"`
	Retained          int                      `json:"retained_msgs"`
	RetainedBytes     int                      `json:"retained_bytes"`
	PendingBytes      int                      `json:"pending_bytes"`
	Plugins           int                      `json:"plugins"`

	Mem        uint64  `json:"mem"`         // bytes the Go runtime holds from the OS
	HeapInUse  uint64  `json:"heap_in_use"` // bytes in live heap spans
	CPU        float64 `json:"cpu"`         // percent of one core over the last sample
	Cores      int     `json:"cores"`
	Goroutines int     `json:"goroutines"`
	PID        int     `json:"pid"`
}

// ProtocolCount are one protocol's counters in /varz.
type ProtocolCount struct {
	Connections      int    `json:"connections"`
	TotalConnections uint64 `json:"total_connections"`
	MsgsIn           uint64 `json:"in_msgs"`
	BytesIn          uint64 `json:"in_bytes"`
	MsgsOut          uint64 `json:"out_msgs"`
	BytesOut         uint64 `json:"out_bytes"`
}

func (s *Server) buildVarz() Varz {
	st := s.b.Stats()
	now := time.Now()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	v := Varz{
		ServerID: s.b.ID(), Version: s.opts.Version, GoVersion: runtime.Version(),
		Start: s.start.UTC(), Now: now.UTC(),
		Uptime: now.Sub(s.start).Round(time.Second).String(), UptimeSecs: now.Sub(s.start).Seconds(),
		Config:      s.opts.Config,
		Connections: st.Connections, TotalConnections: st.TotalConnections,
		Protocols: make(map[string]ProtocolCount, len(st.ByProtocol)),
		MsgsIn:    st.MsgsIn, BytesIn: st.BytesIn, MsgsOut: st.MsgsOut, BytesOut: st.BytesOut,
		SlowConsumers: st.SlowConsumers, AuthFailures: st.AuthFailures, PermissionDenials: st.PermissionDenials,
		Subscriptions: st.Subscriptions, Retained: st.Retained, RetainedBytes: st.RetainedBytes,
		PendingBytes: s.pendingBytes(), Plugins: len(s.opts.Plugins),
		Mem: ms.Sys, HeapInUse: ms.HeapInuse, CPU: s.act.cpuPercent(),
		Cores: runtime.NumCPU(), Goroutines: runtime.NumGoroutine(), PID: os.Getpid(),
	}
	for p, ps := range st.ByProtocol {
		v.Protocols[p] = ProtocolCount{
			Connections: ps.Connections, TotalConnections: ps.TotalConnections,
			MsgsIn: ps.MsgsIn, BytesIn: ps.BytesIn, MsgsOut: ps.MsgsOut, BytesOut: ps.BytesOut,
		}
	}
	return v
}

// pendingBytes sums what waits to be written to every client.
func (s *Server) pendingBytes() int {
	n := 0
	for _, ss := range s.b.Sessions() {
		if p := ss.Pending(); p > 0 {
			n += p
		}
	}
	return n
}

func (s *Server) varz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.buildVarz())
}

// Ratez is /ratez: rates per second over the last minutes, one sample per
// sampling period, for the dashboard's charts.
type Ratez struct {
	Now    time.Time `json:"now"`
	Period float64   `json:"period_seconds"`
	Rates  []Rate    `json:"rates"` // oldest first
}

func (s *Server) ratez(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Ratez{Now: time.Now().UTC(), Period: s.opts.Sample.Seconds(), Rates: s.act.recentRates()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) //nolint:errcheck // the client went away
}

// badRequest answers a query parameter that cannot be used.
func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
}
