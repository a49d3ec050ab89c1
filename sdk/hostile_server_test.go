package sdk_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/sdk"
	"github.com/msgtrans/msgtrans/wire"
)

// A server that sends a MSG for the inbox subscription with a topic outside
// the inbox does not crash the client.
func TestMalformedReplyTopicDoesNotCrash(t *testing.T) {
	if os.Getenv("REVIEW_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReviewInboxShortTopicPanics$", "-test.v")
		cmd.Env = append(os.Environ(), "REVIEW_CHILD=1")
		out, err := cmd.CombinedOutput()
		i := bytes.Index(out, []byte("panic:"))
		if i >= 0 {
			t.Logf("child process died (%v): %s", err, bytes.SplitN(out[i:], []byte("\n\n"), 2)[0])
			t.Errorf("a malformed MSG from the server crashed the client")
		} else {
			t.Logf("child: %v\n%s", err, out)
		}
		return
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		c, _ := ln.Accept()
		r := wire.NewReader(c, 0)
		var f wire.Frame
		r.Next(&f) // HELLO
		c.Write(wire.AppendWelcome(nil, &wire.Welcome{Version: 1, ServerID: "evil", MaxPayload: 1 << 20, HeartbeatMS: 30000}))
		for r.Next(&f) == nil {
			if f.Type == wire.TypeSub && bytes.HasPrefix(f.Topic, []byte("_INBOX.")) {
				c.Write(wire.AppendMsg(nil, 0, f.SID, []byte("x"), nil, nil, nil))
			}
		}
	}()
	c, err := sdk.Connect("tcp://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.Request(ctx, "svc", nil)
}
