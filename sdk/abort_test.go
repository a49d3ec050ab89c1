package sdk_test

import (
	"testing"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/sdk"
)

// Abort ends a connection without the goodbye: the broker publishes its
// will, as for a lost connection, and what was published before it is
// delivered first. Calling it again, or Close after it, is harmless.
func TestAbortPublishesTheWill(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	watcher := connect(t, srv.URL, sdk.Name("watcher"))
	got := subSync(t, watcher, "ab.>")
	flush(t, watcher)
	a := connect(t, srv.URL, sdk.MaxReconnects(0), sdk.Will(&sdk.Msg{Topic: "ab.will", Data: []byte("aborted")}, 0))
	if err := a.Publish("ab.last", []byte("last words")); err != nil {
		t.Fatal(err)
	}
	a.Abort()
	expectData(t, got, "last words")
	if m := expectData(t, got, "aborted"); m.Topic != "ab.will" {
		t.Fatal(m.Topic)
	}
	a.Abort()
	a.Close()
	if !a.IsClosed() {
		t.Fatal("not closed")
	}
}
