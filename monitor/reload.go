package monitor

import "net/http"

// reload serves POST /reload: the broker reads its configuration again, as
// on SIGHUP. It answers 200 with {"reloaded": true}, 409 with the reason a
// configuration was refused (the one in force is kept), and 403 when the
// listener has no credentials: an endpoint anyone on the network could
// call must not change the broker.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.opts.Reload == nil:
		http.NotFound(w, r)
	case s.opts.User == "":
		writeJSON(w, http.StatusForbidden, map[string]string{
			"error": "reload over HTTP needs http.user and http.password; send SIGHUP instead",
		})
	default:
		if err := s.opts.Reload(); err != nil {
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"reloaded": true})
	}
}
