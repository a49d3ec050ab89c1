package plugins

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters"
	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/adapters/inproc"
	"github.com/msgtrans/msgtrans/plugins/pluginpb"
	"github.com/msgtrans/msgtrans/wire"
)

// pipeTunnel registers a session whose engine end the test reads itself.
func pipeTunnel(h *host, id uint64) (*tunnel, net.Conn) {
	engineEnd, local := inproc.Pipe()
	t := h.newTunnel(id, local)
	h.mu.Lock()
	h.sessions[id] = t
	h.mu.Unlock()
	return t, engineEnd
}

func piece(id uint64, data []byte) *pluginpb.SessionData {
	return &pluginpb.SessionData{SessionId: id, Data: data}
}

func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A Send whose call ends while a piece waits for room fails, and queues
// nothing after that piece: a session's stream never has a hole.
func TestCanceledSendLeavesNoHole(t *testing.T) {
	hctx, hcancel := context.WithCancel(context.Background())
	defer hcancel()
	h := newHost(hctx, "x", nil)
	ta, engA := pipeTunnel(h, 1)
	_, engB := pipeTunnel(h, 2)
	go io.Copy(io.Discard, engB)

	a1 := bytes.Repeat([]byte{'1'}, maxQueued)
	batch := &pluginpb.DataBatch{Items: []*pluginpb.SessionData{
		piece(1, a1), piece(1, []byte("A2")), piece(2, []byte("B1")), piece(1, []byte("A3")),
	}}
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan error, 1)
	go func() {
		_, err := h.Send(ctx, batch)
		sent <- err
	}()
	eventually(t, "A2 waiting for room behind A1", func() bool {
		ta.mu.Lock()
		defer ta.mu.Unlock()
		return ta.space != nil
	})
	cancel()
	if err := <-sent; err == nil {
		t.Fatal("a Send whose call ended returned no error")
	}
	if _, err := io.ReadFull(engA, make([]byte, len(a1))); err != nil {
		t.Fatal(err)
	}
	engA.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	next := make([]byte, 2)
	if n, _ := io.ReadFull(engA, next); n > 0 {
		t.Fatalf("after A1 the engine read %q", next[:n])
	}
	hcancel()
	h.close()
}

// A session's end, by a closed piece in Send or by CloseSession, comes
// after its data, and the call returns once it has: tearing the host down
// right after loses nothing the plugin sent.
func TestSessionEndFollowsItsData(t *testing.T) {
	for _, how := range []string{"send", "close-session"} {
		t.Run(how, func(t *testing.T) {
			srv := adapterstest.Start(t, adapterstest.Config{})
			e, err := adapters.NewEngine(srv.B, adapters.Options{}, "test")
			if err != nil {
				t.Fatal(err)
			}
			hctx, hcancel := context.WithCancel(context.Background())
			h := newHost(hctx, "text", e)
			go func() { // what the engine sends the plugin: nobody reads it here
				for {
					select {
					case <-h.out:
					case <-hctx.Done():
						return
					}
				}
			}()
			open, err := h.OpenSession(context.Background(), &pluginpb.OpenSessionRequest{RemoteAddr: "test"})
			if err != nil {
				t.Fatal(err)
			}
			id, before := open.SessionId, srv.B.Stats().MsgsIn
			const pubs = 20000 // 2.4 MB: more than one queue's worth
			items := []*pluginpb.SessionData{piece(id, wire.AppendHello(nil, &wire.Hello{Version: wire.Version, Name: "t"}))}
			for range pubs {
				items = append(items, piece(id, wire.AppendPub(nil, "end.test", "", nil, make([]byte, 100), false, 0)))
			}
			if how == "send" {
				items = append(items, &pluginpb.SessionData{SessionId: id, Closed: true})
			}
			if r, err := h.Send(context.Background(), &pluginpb.DataBatch{Items: items}); err != nil || len(r.UnknownSessions) > 0 {
				t.Fatalf("Send: %v %v", r, err)
			}
			if how == "close-session" {
				if _, err := h.CloseSession(context.Background(), &pluginpb.CloseSessionRequest{SessionId: id}); err != nil {
					t.Fatal(err)
				}
			}
			hcancel()
			h.close()
			if got := srv.B.Stats().MsgsIn - before; got != pubs {
				t.Fatalf("the broker got %d of the %d messages", got, pubs)
			}
		})
	}
}
