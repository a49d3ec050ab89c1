package ws_test

import (
	"testing"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/adapters/ws"
)

// upgradeTo is an upgrade request with the given Host and extra headers,
// Origin before or after Host.
func upgradeTo(host, origin string, originFirst bool) string {
	h := "Host: " + host + "\r\n"
	o := ""
	if origin != "" {
		o = "Origin: " + origin + "\r\n"
	}
	first, second := h, o
	if originFirst {
		first, second = o, h
	}
	return "GET /ws HTTP/1.1\r\n" + first + "Upgrade: websocket\r\nConnection: Upgrade\r\n" + second +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: msgtrans.v1\r\n\r\n"
}

// Out of the box a page from another site cannot use the broker through
// the visitor's browser: only pages from the broker's own host (or, on
// this machine, from localhost) and clients that send no Origin are let
// in. An allow-list replaces that rule, and "*" opens it to every site.
func TestOriginPolicy(t *testing.T) {
	byDefault := adapterstest.Start(t, adapterstest.Config{})
	any := adapterstest.Start(t, adapterstest.Config{WS: ws.Options{AllowedOrigins: []string{ws.AnyOrigin}}})
	listed := adapterstest.Start(t, adapterstest.Config{WS: ws.Options{AllowedOrigins: []string{"https://app.example.com"}}})
	for _, tc := range []struct {
		name         string
		srv          *adapterstest.Server
		host, origin string
		want         int
	}{
		{"default, no Origin (not a browser)", byDefault, "broker.example.com:8002", "", 101},
		{"default, page from the same host, other port", byDefault, "broker.example.com:8002", "https://broker.example.com", 101},
		{"default, page from another site", byDefault, "broker.example.com:8002", "https://evil.example.net", 403},
		{"default, localhost page to 127.0.0.1", byDefault, "127.0.0.1:8002", "http://localhost:3000", 101},
		{"default, [::1] page to localhost", byDefault, "localhost:8002", "http://[::1]:8080", 101},
		{"default, a site to a broker on localhost", byDefault, "127.0.0.1:8002", "https://evil.example.net", 403},
		{"default, sandboxed page (null)", byDefault, "127.0.0.1:8002", "null", 403},
		{"*, any site", any, "127.0.0.1:8002", "https://evil.example.net", 101},
		{"list, listed", listed, "broker.example.com", "https://app.example.com", 101},
		{"list, same host but not listed", listed, "broker.example.com", "https://broker.example.com", 403},
	} {
		for _, originFirst := range []bool{false, true} {
			req := upgradeTo(tc.host, tc.origin, originFirst)
			if got := httpStatus(t, tc.srv.WSAddr, req); got != tc.want {
				t.Errorf("%s (Origin first: %v): status %d, want %d", tc.name, originFirst, got, tc.want)
			}
		}
	}
}
