package monitor

import (
	"net/http"
	"time"
)

// Pluginz is /pluginz: every configured plugin.
type Pluginz struct {
	Now     time.Time    `json:"now"`
	Plugins []PluginInfo `json:"plugins"`
}

// PluginInfo is one plugin in /pluginz.
type PluginInfo struct {
	Name      string    `json:"name"`
	State     string    `json:"state"` // starting, running, restarting, failed, stopped
	PID       int       `json:"pid,omitempty"`
	Linked    bool      `json:"linked"`
	Status    string    `json:"status,omitempty"`
	Restarts  int       `json:"restarts"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"`
	Sessions  int       `json:"sessions"`
	MsgsIn    uint64    `json:"in_msgs"`
	MsgsOut   uint64    `json:"out_msgs"`
}

func (s *Server) buildPluginz() Pluginz {
	st := s.b.Stats()
	out := Pluginz{Now: time.Now().UTC(), Plugins: []PluginInfo{}}
	for _, p := range s.opts.Plugins {
		ps := p.State()
		// A plugin's sessions are counted under its name.
		c := st.ByProtocol[ps.Name]
		out.Plugins = append(out.Plugins, PluginInfo{
			Name: ps.Name, State: ps.State, PID: ps.PID, Linked: ps.Linked, Status: ps.Status,
			Restarts: ps.Restarts, Since: ps.Since.UTC(), LastError: ps.LastErr,
			Sessions: c.Connections, MsgsIn: c.MsgsIn, MsgsOut: c.MsgsOut,
		})
	}
	return out
}

func (s *Server) pluginz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.buildPluginz())
}
