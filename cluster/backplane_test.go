package cluster

import (
	"fmt"
	"testing"
)

// Two nodes in this process over a real Redis: a subscription on one is
// known to the other, and a publish reaches it in order.
func TestBackplaneInProcess(t *testing.T) {
	r := startRedis(t)
	a := startNode(t, r, "a", Options{})
	b := startNode(t, r, "b", Options{})
	got := &collector{}
	if _, err := client(t, b.b, "sub").Subscribe("x.*", got.cb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to learn b's interest", func() bool { return a.bp.peers.interestOf("b") == 1 })
	pub := client(t, a.b, "pub")
	const n = 1000
	for i := range n {
		pub.Publish("x.y", []byte(fmt.Sprint(i)))
	}
	waitFor(t, "all messages", func() bool { return got.len() == n })
	for i, m := range got.all() {
		if string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: out of order", i, m.Payload)
		}
	}
	st := a.bp.Stats()
	if st.MsgsOut != n || st.BatchesOut == 0 || st.BatchesOut > n {
		t.Fatalf("a's stats %+v", st)
	}
	t.Logf("%d messages in %d batches", st.MsgsOut, st.BatchesOut)
}
