package topics

import (
	"strconv"
	"testing"
)

func cached[T comparable](t *Tree[T], topic string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.cache[topic]
	return ok
}

func TestCacheAdmitsOnSecondMiss(t *testing.T) {
	tr := NewTree[int](0)
	if err := tr.Insert("_INBOX.*", "", 1); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		topic := "_INBOX." + strconv.Itoa(i)
		if r, _ := tr.Match(topic); len(r.Plain) != 1 {
			t.Fatalf("Match(%q) = %v", topic, r.Plain)
		}
		if cached(tr, topic) {
			t.Fatalf("%q cached after one miss: one-off reply topics would fill the cache", topic)
		}
	}
	tr.Match("_INBOX.7")
	if !cached(tr, "_INBOX.7") {
		t.Fatal("a topic seen twice is not cached")
	}
}

func TestCacheInvalidatesOnlyMatchedTopics(t *testing.T) {
	tr := NewTree[int](0)
	hot := []string{"orders.eu", "orders.us", "$SYS.conn", "_INBOX.a.1", "_INBOX.b.1"}
	for i, topic := range hot {
		if err := tr.Insert(topic, "", i); err != nil {
			t.Fatal(err)
		}
		tr.Match(topic)
		tr.Match(topic)
		if !cached(tr, topic) {
			t.Fatalf("%q not cached", topic)
		}
	}
	for _, change := range []struct {
		filter string
		drops  []string
	}{
		{"_INBOX.a.*", []string{"_INBOX.a.1"}},
		{"orders.*", []string{"orders.eu", "orders.us"}},
		{">", []string{"orders.eu", "orders.us", "_INBOX.a.1", "_INBOX.b.1"}},
		{"$SYS.>", []string{"$SYS.conn"}},
		{"orders.eu", []string{"orders.eu"}},
	} {
		for _, op := range []string{"insert", "remove"} {
			for _, topic := range hot { // refill
				tr.Match(topic)
				tr.Match(topic)
			}
			var err error
			if op == "insert" {
				err = tr.Insert(change.filter, "", 99)
			} else {
				err = tr.Remove(change.filter, "", 99)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, topic := range hot {
				dropped := false
				for _, d := range change.drops {
					dropped = dropped || d == topic
				}
				if got := cached(tr, topic); got == dropped {
					t.Errorf("%s %q: %q cached = %v, want %v", op, change.filter, topic, got, !dropped)
				}
				// And the answer is right either way.
				r, _ := tr.Match(topic)
				want := 1
				if op == "insert" && MatchFilter(change.filter, topic) {
					want = 2
				}
				if len(r.Plain) != want {
					t.Errorf("%s %q: Match(%q) has %d subscribers, want %d", op, change.filter, topic, len(r.Plain), want)
				}
			}
		}
	}
}

func TestMembersAndWalk(t *testing.T) {
	tr := NewTree[int](0)
	subs := []struct{ filter, queue string }{
		{"a.b", ""}, {"a.b", ""}, {"a.b", "g"}, {"a.*", "g"}, {">", ""}, {"a.*.>", "h"},
	}
	for i, s := range subs {
		if err := tr.Insert(s.filter, s.queue, i); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		filter, queue string
		want          int
	}{{"a.b", "", 2}, {"a.b", "g", 1}, {"a.*", "g", 1}, {"a.*", "", 0}, {">", "", 1}, {"a.*.>", "h", 1}, {"x", "", 0}, {"a..b", "", 0}} {
		got := 0
		tr.Members(c.filter, c.queue, func(int) bool { got++; return true })
		if got != c.want {
			t.Errorf("Members(%q, %q): %d, want %d", c.filter, c.queue, got, c.want)
		}
	}
	got := map[string]int{}
	tr.Walk(func(filter, queue string, members []int) bool {
		got[filter+" "+queue] = len(members)
		return true
	})
	want := map[string]int{"a.b ": 2, "a.b g": 1, "a.* g": 1, "> ": 1, "a.*.> h": 1}
	if len(got) != len(want) {
		t.Fatalf("Walk = %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("Walk = %v, want %v", got, want)
		}
	}
}

// The cache is bounded by the subscribers its results hold, not only by
// its number of topics: results of a crowded filter would otherwise each
// keep a copy of all of them.
func TestCacheBoundedByCost(t *testing.T) {
	const entries = 8
	tr := NewTree[int](entries)
	budget := entries * costPerEntry
	big, mid := budget/8+100, budget/8-100 // members: just over and under the cap on one result
	for i := range big {
		if err := tr.Insert(">", "g", i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		topic := "big." + strconv.Itoa(i)
		tr.Match(topic)
		tr.Match(topic)
		if cached(tr, topic) {
			t.Fatalf("a result of %d members cached in a budget of %d", big, budget)
		}
	}
	tr2 := NewTree[int](entries)
	for i := range mid {
		if err := tr2.Insert("mid.>", "g", i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		topic := "mid." + strconv.Itoa(i)
		tr2.Match(topic)
		tr2.Match(topic)
		if !cached(tr2, topic) {
			t.Fatalf("a result of %d members not cached", mid)
		}
		tr2.mu.RLock()
		cost, n := tr2.cacheCost, len(tr2.cache)
		sum := 0
		for _, r := range tr2.cache {
			sum += r.cost()
		}
		tr2.mu.RUnlock()
		if cost > budget || cost != sum {
			t.Fatalf("after %d topics: cost %d (recount %d) in %d entries, budget %d", i+1, cost, sum, n, budget)
		}
	}
	// Invalidation gives the cost back.
	tr2.Insert("mid.*", "", -1)
	tr2.mu.RLock()
	defer tr2.mu.RUnlock()
	if tr2.cacheCost != 0 || len(tr2.cache) != 0 {
		t.Fatalf("after invalidating every entry: cost %d, %d entries", tr2.cacheCost, len(tr2.cache))
	}
}

// A result computed before changes is still cached when none of those
// changes concern its topic: churn on other filters, however frequent, must
// not keep a costly topic out of the cache (issue 14's attack table saw
// every publish walk 65,536 paths while another connection subscribed and
// unsubscribed elsewhere every millisecond).
func TestCacheSurvivesUnrelatedChurn(t *testing.T) {
	tr := NewTree[int](0)
	if err := tr.Insert("a.*.c", "", 1); err != nil {
		t.Fatal(err)
	}
	gen := tr.gen.Load()
	for i := range 10 {
		if err := tr.Insert("x.*", "", 100+i); err != nil {
			t.Fatal(err)
		}
	}
	tr.mu.Lock()
	unrelated := tr.unaffected("a.b.c", gen)
	tr.mu.Unlock()
	if !unrelated {
		t.Fatal("changes to x.* made a.b.c's result unusable")
	}
	if err := tr.Insert("a.>", "", 2); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	related := tr.unaffected("a.b.c", gen)
	tr.mu.Unlock()
	if related {
		t.Fatal("a change to a.> was not seen as concerning a.b.c")
	}
	gen = tr.gen.Load()
	for i := range recentChanges + 1 {
		tr.Insert("y.*", "", 200+i)
	}
	tr.mu.Lock()
	tooMany := tr.unaffected("a.b.c", gen)
	tr.mu.Unlock()
	if tooMany {
		t.Fatal("more changes than are remembered were taken as unrelated")
	}
}
