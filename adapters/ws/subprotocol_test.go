package ws_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/wire"
)

// The subprotocol msgtrans.v1 is required. An upgrade that does not offer
// it, or offers only others, used to succeed with none selected, which a
// browser that offered others aborts with close code 1006 and no reason;
// it is now refused with 400 and a body that names what is missing. One
// that offers it among others gets it selected.
func TestSubprotocolRequired(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	for _, tc := range []struct {
		name, offer string
		status      int
	}{
		{"no offer", "", 400},
		{"only others", "Sec-WebSocket-Protocol: mqtt, chat\r\n", 400},
		{"among others", "Sec-WebSocket-Protocol: chat, " + wire.Subprotocol + "\r\n", 101},
		{"alone", "Sec-WebSocket-Protocol: " + wire.Subprotocol + "\r\n", 101},
	} {
		c, err := net.Dial("tcp", srv.WSAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(wait))
		io.WriteString(c, rawUpgradeReq("/ws", tc.offer))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		c.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
			continue
		}
		switch tc.status {
		case 101:
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != wire.Subprotocol {
				t.Errorf("%s: selected %q", tc.name, got)
			}
		case 400:
			if !strings.Contains(string(body), "subprotocol "+wire.Subprotocol+" is required") {
				t.Errorf("%s: body %q does not say the subprotocol is required", tc.name, body)
			}
		}
	}
}
