package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/sdk"
)

// retainedAfterRestart subscribes to every retained topic and returns
// topic -> payload, failing on a duplicate.
func retainedAfterRestart(t *testing.T, url string, want int) map[string]string {
	t.Helper()
	c, err := sdk.Connect(url, sdk.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, _ := c.SubscribeSync("r.>")
	got := map[string]string{}
	for {
		wait := 5 * time.Second
		if len(got) >= want {
			wait = 200 * time.Millisecond // nothing more should come
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		m, err := s.NextMsg(ctx)
		cancel()
		if err != nil {
			break
		}
		if _, dup := got[m.Topic]; dup {
			t.Fatalf("retained %s delivered twice", m.Topic)
		}
		if !m.Retain {
			t.Fatalf("%s not marked retained", m.Topic)
		}
		got[m.Topic] = string(m.Data)
	}
	return got
}

func listenURL(t *testing.T, p *proc) string {
	t.Helper()
	return "tcp://" + p.waitLog(t, "listening for tcp://")["addr"].(string)
}

func TestAckedRetainedSurviveSIGKILL(t *testing.T) {
	dir := t.TempDir()
	p := startBroker(t, "--data-dir", dir)
	url := listenURL(t, p)

	var mu sync.Mutex
	acked := map[string]string{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := sdk.Connect(url, sdk.MaxReconnects(0))
			if err != nil {
				return
			}
			defer c.Close()
			for i := 0; ctx.Err() == nil; i++ {
				topic, payload := fmt.Sprintf("r.w%d.m%d", w, i), fmt.Sprintf("payload %d/%d", w, i)
				actx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := c.PublishAck(actx, &sdk.Msg{Topic: topic, Data: []byte(payload), Retain: true})
				cancel()
				if err != nil {
					return // the broker is gone; unacked messages may or may not be there
				}
				mu.Lock()
				acked[topic] = payload
				mu.Unlock()
			}
		}()
	}
	// Let acks accumulate, then kill the broker mid-stream.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(t)
	stop()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no retained publish was acknowledged before the kill")
	}

	p2 := startBroker(t, "--data-dir", dir)
	p2.waitLog(t, "retained messages loaded")
	got := retainedAfterRestart(t, listenURL(t, p2), len(acked))
	for topic, payload := range acked {
		if got[topic] != payload {
			t.Fatalf("acknowledged %s = %q lost or changed after SIGKILL (got %q); %d acked, %d found", topic, payload, got[topic], len(acked), len(got))
		}
	}
	t.Logf("%d acknowledged retained messages all found after SIGKILL (%d in store)", len(acked), len(got))
}

func TestRetainedSurviveCleanRestartAndDelete(t *testing.T) {
	dir := t.TempDir()
	p := startBroker(t, "--data-dir", dir)
	url := listenURL(t, p)
	c, err := sdk.Connect(url, sdk.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range []*sdk.Msg{
		{Topic: "r.a", Data: []byte("1"), Retain: true},
		{Topic: "r.b", Data: []byte("2"), Retain: true},
		{Topic: "r.c", Data: []byte("3"), Retain: true},
		{Topic: "r.b", Retain: true}, // delete
	} {
		if err := c.PublishAck(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.waitExit(t); err != nil {
		t.Fatal(err)
	}
	p2 := startBroker(t, "--data-dir", dir)
	got := retainedAfterRestart(t, listenURL(t, p2), 2)
	if len(got) != 2 || got["r.a"] != "1" || got["r.c"] != "3" {
		t.Fatalf("after restart: %v", got)
	}
}

func TestCorruptRetainedFileFailsStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "retained.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBroker(t, "--data-dir", dir)
	line := p.waitLog(t, "start failed")
	if msg := fmt.Sprint(line["error"]); !strings.Contains(msg, path) || !strings.Contains(msg, "corrupt") {
		t.Fatalf("error: %s", msg)
	}
	var ee *exec.ExitError
	if err := p.waitExit(t); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
}

func TestMemoryRetainedStore(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "broker.yaml")
	os.WriteFile(cfg, []byte("retained:\n  store: memory\n"), 0o600)
	dir := t.TempDir()
	p := startBroker(t, "--data-dir", dir, "--config", cfg)
	p.waitLog(t, "kept in memory only")
	if _, err := os.Stat(filepath.Join(dir, "retained.db")); err == nil {
		t.Fatal("memory store created retained.db")
	}
}

// A disk that fills up is reported, never silent: a retained publish
// without an ack that the store cannot write gets a non-fatal STORE error
// on its connection, the broker logs it (a few times, not per message),
// and the acked ones get the error in their ack. The broker runs with a
// file-size limit (RLIMIT_FSIZE, through prlimit) so that its database
// file cannot grow: the kernel refuses the write as it would on a full disk.
func TestRetainedStoreFullIsReported(t *testing.T) {
	prlimit := testproc.Need(t, "prlimit")
	dir := t.TempDir()
	p := startBrokerUnder(t, []string{prlimit, "--fsize=262144"}, "--data-dir", dir)
	url := listenURL(t, p)
	errs := make(chan error, 100)
	nc, err := sdk.Connect(url, sdk.ErrorHandler(func(_ *sdk.Conn, _ *sdk.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	payload := make([]byte, 32<<10)
	var storeErr error
	for i := 0; i < 64 && storeErr == nil; i++ {
		// Retained publishes without an ack, to distinct topics: 2 MiB
		// in all, far over the 256 KiB the file may reach.
		if err := nc.PublishMsg(&sdk.Msg{Topic: fmt.Sprintf("full.%d", i), Data: payload, Retain: true}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case storeErr = <-errs:
		case <-time.After(200 * time.Millisecond):
		}
	}
	if storeErr == nil {
		t.Fatal("no error reached the publisher of retained messages the store could not keep")
	}
	if !errors.Is(storeErr, sdk.ErrStore) || !strings.Contains(storeErr.Error(), "full.") {
		t.Fatalf("error %v: want sdk.ErrStore naming the topic", storeErr)
	}
	p.waitLog(t, "retained store failed")
	// With an ack, the error comes in the ack.
	err = nc.PublishAck(context.Background(), &sdk.Msg{Topic: "full.acked", Data: payload, Retain: true})
	if !errors.Is(err, sdk.ErrStore) {
		t.Fatalf("acked retained publish on a full store: %v, want sdk.ErrStore", err)
	}
	// The connection is still open: the errors were not fatal.
	if err := nc.Publish("full.live", []byte("x")); err != nil || nc.Flush(context.Background()) != nil {
		t.Fatalf("connection unusable after store errors: %v", err)
	}
}
