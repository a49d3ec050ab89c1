package monitor

import (
	"net/http"
	"sync"
)

// Health is the list of what must be up for /healthz to answer 200: the
// service registers one named check per listener, the retained store,
// each plugin that is not optional, and (clustered) the backplane, with
// one Add each.
type Health struct {
	mu     sync.Mutex
	checks []check
}

type check struct {
	name string
	fn   func() error
}

// Add registers a check: fn returns nil while name is up, or why it is
// not. fn is called on every /healthz request and must return quickly.
func (h *Health) Add(name string, fn func() error) {
	h.mu.Lock()
	h.checks = append(h.checks, check{name, fn})
	h.mu.Unlock()
}

// Check runs every check and returns, for each name, "ok" or why it is
// down, and whether all are up.
func (h *Health) Check() (results map[string]string, ok bool) {
	h.mu.Lock()
	checks := append([]check(nil), h.checks...)
	h.mu.Unlock()
	results = make(map[string]string, len(checks))
	ok = true
	for _, c := range checks {
		if err := c.fn(); err != nil {
			results[c.name] = err.Error()
			ok = false
		} else {
			results[c.name] = "ok"
		}
	}
	return results, ok
}

// healthResponse is /healthz's body.
type healthResponse struct {
	Status string            `json:"status"`         // "ok" or "unavailable"
	Down   map[string]string `json:"down,omitempty"` // what is down, and why
	Checks map[string]string `json:"checks"`         // every check: "ok" or why not
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	results, ok := s.opts.Health.Check()
	resp := healthResponse{Status: "ok", Checks: results}
	code := http.StatusOK
	if !ok {
		resp.Status, code = "unavailable", http.StatusServiceUnavailable
		resp.Down = map[string]string{}
		for name, r := range results {
			if r != "ok" {
				resp.Down[name] = r
			}
		}
	}
	writeJSON(w, code, resp)
}
