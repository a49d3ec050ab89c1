package monitor

import (
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard is three static files, embedded: no CDN, no build step.
// Its script polls /varz, /connz, /pluginz and /healthz once a second.
//
//go:embed dashboard
var dashboardFiles embed.FS

func dashboard() http.Handler {
	sub, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		panic(err) // the directory is embedded above: cannot happen
	}
	return http.FileServerFS(sub)
}
