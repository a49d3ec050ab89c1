package ws

import (
	"net"
	"net/url"
	"slices"
	"strings"
)

// AnyOrigin in Options.AllowedOrigins accepts a browser page from any site.
const AnyOrigin = "*"

// originAllowed decides whether a WebSocket request that carried the Origin
// header origin, to the Host host, may upgrade. A browser sends Origin with
// every WebSocket request and a page cannot forge it, so it tells which
// site's script is connecting; other clients usually send none, and are not
// browsers being abused, so a missing Origin is accepted.
//
// With no allow-list the default is same host: the page must come from the
// host the broker is reached at (any port), or both must be this machine
// (localhost and loopback addresses count as one). Any web page a user
// happens to open would otherwise be able to use a broker on localhost.
func originAllowed(allowed []string, origin, host string) bool {
	if origin == "" {
		return true
	}
	if len(allowed) > 0 {
		return slices.ContainsFunc(allowed, func(o string) bool {
			return o == AnyOrigin || strings.EqualFold(o, origin)
		})
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // "null" (a sandboxed or file:// page) and garbage
	}
	oh := u.Hostname()
	hh := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hh = h
	}
	hh = strings.Trim(hh, "[]")
	return strings.EqualFold(oh, hh) || (isLoopback(oh) && isLoopback(hh))
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
