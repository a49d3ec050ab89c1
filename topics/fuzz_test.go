package topics

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// sentinels lists the validation errors, to compare two errors by sentinel.
var sentinels = []error{
	ErrEmpty, ErrEmptyToken, ErrBadChar, ErrWildcardInToken,
	ErrFullWildcardNotLast, ErrWildcardInPublish, ErrTooLong, ErrTooDeep,
}

func sameSentinel(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	for _, s := range sentinels {
		if errors.Is(a, s) != errors.Is(b, s) {
			return false
		}
	}
	return true
}

// lines splits fuzz input into at most max entries.
func lines(s string, max int) []string {
	l := strings.Split(s, "\n")
	if len(l) > max {
		l = l[:max]
	}
	return l
}

// concretize turns a filter into a topic it matches.
func concretize(filter string) string {
	toks := strings.Split(filter, ".")
	for i, tok := range toks {
		switch tok {
		case "*":
			toks[i] = "x"
		case ">":
			toks[i] = "y.z"
		}
	}
	return strings.Join(toks, ".")
}

var fuzzQueues = []string{"", "q1", "", "q2"}

// reference computes with MatchFilter what a tree holding subs (indexed by
// value; removed ones skipped) must return for topic.
func reference(subs []string, live []bool, topic string) string {
	r := &Result[int]{}
	var groups []string
	for v, filter := range subs {
		if !live[v] || !MatchFilter(filter, topic) {
			continue
		}
		q := fuzzQueues[v%len(fuzzQueues)]
		if q == "" {
			r.Plain = append(r.Plain, v)
			continue
		}
		// A group is its filter and its name: one entry per (filter, queue).
		i := slices.IndexFunc(groups, func(f string) bool { return f == filter+" "+q })
		if i < 0 {
			groups = append(groups, filter+" "+q)
			r.Queues = append(r.Queues, Queue[int]{Name: q})
			i = len(r.Queues) - 1
		}
		r.Queues[i].Members = append(r.Queues[i].Members, v)
	}
	slices.SortFunc(r.Queues, func(a, b Queue[int]) int { return strings.Compare(a.Name, b.Name) })
	return render(r)
}

func FuzzTree(f *testing.F) {
	f.Add("a.b\na.*\na.>\n>\n*.b.*\na.b", "a.b\na.b.c\na\nb.b.b\na.*\n")
	f.Add("orders.*.created\norders.>\n*.*.*\norders.eu.created", "orders.eu.created\norders.eu")
	f.Add("a.>.b\na..b\n a\na*\n日本.*", "日本.東京\na b\n\x00\n.")
	f.Add("*\n*\n>\n>", "x\nx.y")
	f.Add("$SYS.>\n>\n*.a\n$SYS.*\n$*.a\n*", "$SYS.a\n$SYS\n$x.a\nx.a")
	f.Fuzz(func(t *testing.T, filterIn, topicIn string) {
		tr := NewTree[int](8) // small: exercise eviction
		filters := lines(filterIn, 48)
		live := make([]bool, len(filters))
		var topicsToTry []string
		for v, filter := range filters {
			err := tr.Insert(filter, fuzzQueues[v%len(fuzzQueues)], v)
			if !sameSentinel(err, ValidateFilter(filter)) {
				t.Fatalf("Insert(%q) = %v, ValidateFilter = %v", filter, err, ValidateFilter(filter))
			}
			live[v] = err == nil
			if err == nil {
				topicsToTry = append(topicsToTry, concretize(filter))
				if IsLiteral(filter) != (concretize(filter) == filter) {
					t.Fatalf("IsLiteral(%q) = %v", filter, IsLiteral(filter))
				}
				if IsLiteral(filter) != (ValidatePublish(filter) == nil) {
					t.Fatalf("IsLiteral(%q) = %v, ValidatePublish = %v", filter, IsLiteral(filter), ValidatePublish(filter))
				}
			}
		}
		topicsToTry = append(topicsToTry, lines(topicIn, 16)...)

		check := func(stage string) {
			for _, topic := range topicsToTry {
				want := reference(filters, live, topic)
				if ValidatePublish(topic) == nil {
					for _, filter := range filters {
						if ValidateFilter(filter) != nil {
							continue
						}
						var toks [MaxTokens]string
						n, _ := split(filter, &toks)
						if got := matchToks(toks[:n], topic); got != MatchFilter(filter, topic) {
							t.Fatalf("matchToks(%q, %q) = %v, MatchFilter says %v", filter, topic, got, !got)
						}
					}
				}
				for range 3 { // miss, miss and cache, then (usually) hit
					r, err := tr.Match(topic)
					if verr := ValidatePublish(topic); verr != nil {
						if r != nil || !sameSentinel(err, verr) {
							t.Fatalf("%s: Match(%q) = %v, %v; ValidatePublish = %v", stage, topic, r, err, verr)
						}
						if MatchFilter(">", topic) {
							t.Fatalf("MatchFilter matched invalid topic %q", topic)
						}
						continue
					}
					if err != nil {
						t.Fatalf("%s: Match(%q): %v", stage, topic, err)
					}
					if got := render(r); got != want {
						t.Fatalf("%s: Match(%q) = %s, reference %s", stage, topic, got, want)
					}
					rb, err := tr.MatchBytes([]byte(topic))
					if err != nil || render(rb) != want {
						t.Fatalf("%s: MatchBytes(%q) = %s, %v; reference %s", stage, topic, render(rb), err, want)
					}
				}
			}
		}
		check("inserted")
		for v := 0; v < len(filters); v += 2 {
			err := tr.Remove(filters[v], fuzzQueues[v%len(fuzzQueues)], v)
			if live[v] != (err == nil) {
				t.Fatalf("Remove(%q) = %v", filters[v], err)
			}
			live[v] = false
		}
		check("half removed")
		for v := 1; v < len(filters); v += 2 {
			if live[v] {
				if err := tr.Remove(filters[v], fuzzQueues[v%len(fuzzQueues)], v); err != nil {
					t.Fatalf("Remove(%q) = %v", filters[v], err)
				}
				live[v] = false
			}
		}
		if tr.Len() != 0 || !tr.root.empty() {
			t.Fatalf("tree not empty after removing everything: Len %d", tr.Len())
		}
	})
}

func FuzzIndex(f *testing.F) {
	f.Add("a\na.b\na.b.c\nx.y\na.b", "a.*\na.>\n>\n*\na.b\n*.*.c")
	f.Add("日本.東京\norders.eu.created", "日本.*\norders.*.created\na.>.b\n")
	f.Add("a*\n\n.a\na.*", "*\n>")
	f.Fuzz(func(t *testing.T, topicIn, filterIn string) {
		x := NewIndex[int]()
		all := lines(topicIn, 48)
		want := map[string]int{} // topic -> last value set
		for v, topic := range all {
			if ValidatePublish(topic) != nil {
				continue
			}
			x.Set(topic, v)
			want[topic] = v
		}
		filters := lines(filterIn, 16)
		for topic := range want {
			filters = append(filters, topic)
		}
		check := func(stage string) {
			if x.Len() != len(want) {
				t.Fatalf("%s: Len = %d, want %d", stage, x.Len(), len(want))
			}
			for topic, v := range want {
				if got, ok := x.Get(topic); !ok || got != v {
					t.Fatalf("%s: Get(%q) = %d, %v; want %d", stage, topic, got, ok, v)
				}
			}
			for _, filter := range filters {
				got := map[string]int{}
				x.Match(filter, func(topic string, v int) bool {
					if _, dup := got[topic]; dup {
						t.Fatalf("%s: Match(%q) visited %q twice", stage, filter, topic)
					}
					got[topic] = v
					return true
				})
				for topic, v := range want {
					if MatchFilter(filter, topic) {
						if gv, ok := got[topic]; !ok || gv != v {
							t.Fatalf("%s: Match(%q) missed %q", stage, filter, topic)
						}
						delete(got, topic)
					}
				}
				if len(got) != 0 {
					t.Fatalf("%s: Match(%q) returned extra topics %v", stage, filter, got)
				}
				// Early stop after one call.
				calls := 0
				x.Match(filter, func(string, int) bool { calls++; return false })
				if calls > 1 {
					t.Fatalf("%s: Match(%q) did not stop", stage, filter)
				}
			}
		}
		check("set")
		i := 0
		for topic := range want {
			if i++; i%2 == 0 {
				if !x.Delete(topic) {
					t.Fatalf("Delete(%q) = false", topic)
				}
				delete(want, topic)
			}
		}
		check("half deleted")
		for topic := range want {
			if !x.Delete(topic) || x.Delete(topic) {
				t.Fatalf("Delete(%q) not exactly once", topic)
			}
		}
		if x.Len() != 0 || x.root.kids != nil {
			t.Fatal("index not pruned after deleting everything")
		}
	})
}
