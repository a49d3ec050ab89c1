package topics

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// render prints a result in a canonical form: sorted plain values, then
// each queue as name=[sorted members].
func render[T comparable](r *Result[T]) string {
	if r == nil {
		return "<nil>"
	}
	var plain []string
	for _, v := range r.Plain {
		plain = append(plain, fmt.Sprint(v))
	}
	slices.Sort(plain)
	s := "[" + strings.Join(plain, " ") + "]"
	// Groups of the same name (on other filters) come in any order.
	var groups []string
	for _, q := range r.Queues {
		var m []string
		for _, v := range q.Members {
			m = append(m, fmt.Sprint(v))
		}
		slices.Sort(m)
		groups = append(groups, q.Name+"=["+strings.Join(m, " ")+"]")
	}
	slices.Sort(groups)
	for _, g := range groups {
		s += " " + g
	}
	return s
}

type sub struct {
	filter, queue, v string
}

func TestTreeMatch(t *testing.T) {
	tests := []struct {
		name  string
		subs  []sub
		topic string
		want  string
	}{
		{"literal", []sub{{"a.b", "", "1"}, {"a.c", "", "2"}, {"a", "", "3"}}, "a.b", "[1]"},
		{"literal miss", []sub{{"a.b", "", "1"}}, "a.b.c", "[]"},
		{"literal prefix", []sub{{"a.b.c", "", "1"}}, "a.b", "[]"},
		{"star", []sub{{"a.*", "", "1"}, {"*.b", "", "2"}, {"*", "", "3"}}, "a.b", "[1 2]"},
		{"star one token", []sub{{"*", "", "1"}, {"a.*", "", "2"}}, "a", "[1]"},
		{"star not two", []sub{{"a.*", "", "1"}}, "a.b.c", "[]"},
		{"full", []sub{{"a.>", "", "1"}, {">", "", "2"}, {"b.>", "", "3"}}, "a.b.c", "[1 2]"},
		{"full needs a token", []sub{{"a.>", "", "1"}, {">", "", "2"}}, "a", "[2]"},
		{"mixed", []sub{
			{"a.*.c", "", "1"}, {"a.b.>", "", "2"}, {"*.*.*", "", "3"}, {"a.b.c", "", "4"},
			{"*.b.*.>", "", "5"}, {"a.*.c.d", "", "6"}, {"a.*.>", "", "7"},
		}, "a.b.c", "[1 2 3 4 7]"},
		{"same value two filters", []sub{{"a.*", "", "1"}, {"a.b", "", "1"}}, "a.b", "[1 1]"},
		{"queue groups", []sub{
			{"a.b", "q1", "1"}, {"a.*", "q1", "2"}, {"a.>", "q2", "3"}, {"a.b", "", "4"},
			{"x.y", "q1", "5"}, {"a.b", "q2", "6"}, {">", "q0", "7"},
		}, "a.b", "[4] q0=[7] q1=[1] q1=[2] q2=[3] q2=[6]"},
		{"queue group is filter and name", []sub{
			{"a.b", "q", "1"}, {"a.b", "q", "2"}, {"a.*", "q", "3"},
		}, "a.b", "[] q=[1 2] q=[3]"},
		{"queue same value twice", []sub{{"a.b", "q", "1"}, {"a.*", "q", "1"}}, "a.b", "[] q=[1] q=[1]"},
		{"system topic not matched by leading wildcards", []sub{
			{">", "", "1"}, {"*.a", "", "2"}, {"$SYS.>", "", "3"}, {"$SYS.*", "", "4"},
			{"*", "", "5"}, {"$SYS.a", "q", "6"}, {">", "q", "7"},
		}, "$SYS.a", "[3 4] q=[6]"},
		{"system topic alone", []sub{{"*", "", "1"}, {">", "", "2"}, {"$x", "", "3"}}, "$x", "[3]"},
		{"dollar inside is ordinary", []sub{{">", "", "1"}, {"a.*", "", "2"}}, "a.$x", "[1 2]"},
		{"plain and queue same value", []sub{{"a.b", "q", "1"}, {"a.b", "", "1"}}, "a.b", "[1] q=[1]"},
		{"unicode", []sub{{"日本.*", "", "1"}}, "日本.東京", "[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTree[string](0)
			for _, s := range tt.subs {
				if err := tr.Insert(s.filter, s.queue, s.v); err != nil {
					t.Fatal(err)
				}
			}
			if tr.Len() != len(tt.subs) {
				t.Fatalf("Len = %d, want %d", tr.Len(), len(tt.subs))
			}
			for range 3 { // the third match is a cache hit
				r, err := tr.Match(tt.topic)
				if err != nil {
					t.Fatal(err)
				}
				if got := render(r); got != tt.want {
					t.Fatalf("Match(%q) = %s, want %s", tt.topic, got, tt.want)
				}
				r, err = tr.MatchBytes([]byte(tt.topic))
				if err != nil || render(r) != tt.want {
					t.Fatalf("MatchBytes(%q) = %s, %v", tt.topic, render(r), err)
				}
			}
		})
	}
}

func TestTreeQueuesSorted(t *testing.T) {
	tr := NewTree[int](0)
	for i, q := range []string{"c", "a", "b", "d"} {
		if err := tr.Insert("x.>", q, i); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := tr.Match("x.y")
	var names []string
	for _, q := range r.Queues {
		names = append(names, q.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "c", "d"}) {
		t.Fatalf("queue names %v are not sorted", names)
	}
}

func TestTreeMatchInvalid(t *testing.T) {
	tr := NewTree[int](0)
	if err := tr.Insert(">", "", 1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic string
		want  error
	}{
		{"", ErrEmpty},
		{"a.*", ErrWildcardInPublish},
		{">", ErrWildcardInPublish},
		{"a..b", ErrEmptyToken},
		{"a b", ErrBadChar},
		{strings.Repeat("a", MaxLen+1), ErrTooLong},
		{tokens(MaxTokens + 1), ErrTooDeep},
	}
	for _, tt := range tests {
		for range 2 { // invalid topics are never cached
			r, err := tr.Match(tt.topic)
			if r != nil || !errors.Is(err, tt.want) {
				t.Errorf("Match(%.20q) = %v, %v; want nil, %v", tt.topic, r, err, tt.want)
			}
			r, err = tr.MatchBytes([]byte(tt.topic))
			if r != nil || !errors.Is(err, tt.want) {
				t.Errorf("MatchBytes(%.20q) = %v, %v; want nil, %v", tt.topic, r, err, tt.want)
			}
		}
	}
}

func TestTreeInsertRemoveErrors(t *testing.T) {
	tr := NewTree[int](0)
	if err := tr.Insert("a.>.b", "", 1); !errors.Is(err, ErrFullWildcardNotLast) {
		t.Fatalf("Insert invalid filter: %v", err)
	}
	if err := tr.Insert("a.*", "", 1); err != nil {
		t.Fatal(err)
	}
	if err := tr.Insert("a.*", "", 1); !errors.Is(err, ErrExists) {
		t.Fatalf("second Insert: %v, want ErrExists", err)
	}
	// Other value, other queue: distinct subscriptions.
	for _, s := range []struct {
		queue string
		v     int
	}{{"", 2}, {"q", 1}, {"r", 1}} {
		if err := tr.Insert("a.*", s.queue, s.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Insert("a.*", "q", 1); !errors.Is(err, ErrExists) {
		t.Fatalf("second queue Insert: %v, want ErrExists", err)
	}
	if tr.Len() != 4 {
		t.Fatalf("Len = %d, want 4", tr.Len())
	}
	for _, s := range []sub{{"a.b", "", "1"}, {"a.*", "", "3"}, {"a.*", "x", "1"}, {"a.*.c", "", "1"}, {"b", "", "1"}, {">", "", "1"}} {
		v := int(s.v[0] - '0')
		if err := tr.Remove(s.filter, s.queue, v); !errors.Is(err, ErrNotFound) {
			t.Errorf("Remove(%q, %q, %d) = %v, want ErrNotFound", s.filter, s.queue, v, err)
		}
	}
	if err := tr.Remove("a..b", "", 1); !errors.Is(err, ErrEmptyToken) {
		t.Fatalf("Remove invalid filter: %v", err)
	}
	if err := tr.Remove("a.*", "q", 1); err != nil {
		t.Fatal(err)
	}
	if err := tr.Remove("a.*", "q", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove: %v, want ErrNotFound", err)
	}
	if tr.Len() != 3 {
		t.Fatalf("Len = %d, want 3", tr.Len())
	}
}

func TestTreeRemovePrunes(t *testing.T) {
	subs := []sub{
		{"a.b.c", "", "1"}, {"a.b.c", "", "2"}, {"a.*.c", "", "3"}, {"a.>", "", "4"},
		{">", "", "5"}, {"*", "q", "6"}, {"a.b.c", "q", "7"}, {"a.b.c", "r", "8"},
		{"a.b", "", "9"}, {"x.y.z.*.>", "", "10"},
	}
	// Enough members on one filter to switch the set to its indexed form.
	for i := range 3 * setIndexMin {
		subs = append(subs, sub{"a.b.c", "", fmt.Sprint("m", i)})
	}
	tr := NewTree[string](0)
	for _, s := range subs {
		if err := tr.Insert(s.filter, s.queue, s.v); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range subs {
		if _, err := tr.Match("a.b.c"); err != nil { // fill the cache
			t.Fatal(err)
		}
		if err := tr.Remove(s.filter, s.queue, s.v); err != nil {
			t.Fatal(err)
		}
		if tr.Len() != len(subs)-i-1 {
			t.Fatalf("Len = %d, want %d", tr.Len(), len(subs)-i-1)
		}
		// The removed subscription no longer matches; the others still do.
		for _, topic := range []string{"a.b.c", "a", "a.b", "x.y.z.w.v"} {
			r, _ := tr.Match(topic)
			want := NewTree[string](0)
			for _, rest := range subs[i+1:] {
				if err := want.Insert(rest.filter, rest.queue, rest.v); err != nil {
					t.Fatal(err)
				}
			}
			w, _ := want.Match(topic)
			if render(r) != render(w) {
				t.Fatalf("after removing %v, Match(%q) = %s, want %s", s, topic, render(r), render(w))
			}
		}
	}
	if !tr.root.empty() || tr.root.next != nil || tr.root.one != nil {
		t.Fatalf("root not pruned: %+v", tr.root)
	}
}

func TestTreeCacheInvalidation(t *testing.T) {
	for _, filter := range []string{"a.b", "a.*", "a.>", ">"} {
		t.Run(filter, func(t *testing.T) {
			tr := NewTree[int](0)
			if err := tr.Insert("a.b", "", 1); err != nil {
				t.Fatal(err)
			}
			match := func() string {
				r, err := tr.Match("a.b")
				if err != nil {
					t.Fatal(err)
				}
				rb, _ := tr.MatchBytes([]byte("a.b"))
				if render(r) != render(rb) {
					t.Fatalf("Match %s != MatchBytes %s", render(r), render(rb))
				}
				return render(r)
			}
			// Unrelated topics in the cache must stay correct too.
			other := func() string { r, _ := tr.Match("z"); return render(r) }
			if got := match(); got != "[1]" {
				t.Fatalf("before: %s", got)
			}
			other()
			gen := tr.Generation()
			if err := tr.Insert(filter, "", 2); err != nil {
				t.Fatal(err)
			}
			if tr.Generation() == gen {
				t.Fatal("Insert did not bump the generation")
			}
			if got := match(); got != "[1 2]" {
				t.Fatalf("after Insert: %s", got)
			}
			wantOther := "[]"
			if filter == ">" {
				wantOther = "[2]"
			}
			if got := other(); got != wantOther {
				t.Fatalf("other after Insert: %s, want %s", got, wantOther)
			}
			if err := tr.Insert(filter, "g", 3); err != nil {
				t.Fatal(err)
			}
			if got := match(); got != "[1 2] g=[3]" {
				t.Fatalf("after queue Insert: %s", got)
			}
			gen = tr.Generation()
			if err := tr.Remove(filter, "", 2); err != nil {
				t.Fatal(err)
			}
			if tr.Generation() == gen {
				t.Fatal("Remove did not bump the generation")
			}
			if got := match(); got != "[1] g=[3]" {
				t.Fatalf("after Remove: %s", got)
			}
			if err := tr.Remove(filter, "g", 3); err != nil {
				t.Fatal(err)
			}
			if got := match(); got != "[1]" {
				t.Fatalf("after queue Remove: %s", got)
			}
			if got := other(); got != "[]" {
				t.Fatalf("other after Remove: %s", got)
			}
		})
	}
}

func TestTreeCacheBounded(t *testing.T) {
	tr := NewTree[int](16)
	if err := tr.Insert(">", "", 1); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		r, err := tr.Match(fmt.Sprint("t.", i))
		if err != nil || render(r) != "[1]" {
			t.Fatalf("Match = %s, %v", render(r), err)
		}
		if len(tr.cache) > 16 {
			t.Fatalf("cache holds %d entries, limit 16", len(tr.cache))
		}
	}
}

func TestTreeZeroValue(t *testing.T) {
	var tr Tree[int]
	if err := tr.Insert("a.*", "", 1); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r, err := tr.Match("a.b")
		if err != nil || render(r) != "[1]" {
			t.Fatalf("Match = %s, %v", render(r), err)
		}
	}
	r, _ := tr.Match("b")
	if r == nil || !r.Empty() {
		t.Fatalf("Match(b) = %v, want an empty result", r)
	}
}

func TestTreeMatchBytesKeepsNoReference(t *testing.T) {
	tr := NewTree[int](0)
	if err := tr.Insert("a.b", "", 1); err != nil {
		t.Fatal(err)
	}
	buf := []byte("a.b")
	if _, err := tr.MatchBytes(buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "x.y") // the read buffer gets reused
	r, _ := tr.Match("a.b")
	if render(r) != "[1]" {
		t.Fatalf("Match(a.b) = %s after the buffer changed", render(r))
	}
	r, _ = tr.Match("x.y")
	if !r.Empty() {
		t.Fatalf("Match(x.y) = %s, want empty", render(r))
	}
}

func TestTreeHitDoesNotAllocate(t *testing.T) {
	tr := NewTree[int](0)
	for i := range 100 {
		if err := tr.Insert(fmt.Sprint("a.", i, ".*"), "", i); err != nil {
			t.Fatal(err)
		}
	}
	topic := []byte("a.7.x")
	if _, err := tr.MatchBytes(topic); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { tr.MatchBytes(topic) }); n != 0 {
		t.Fatalf("MatchBytes cache hit allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { tr.Match("a.7.x") }); n != 0 {
		t.Fatalf("Match cache hit allocates %v times", n)
	}
}

func TestTreeConcurrent(t *testing.T) {
	tr := NewTree[int](64)
	filters := []string{"a.b.c", "a.*.c", "a.>", ">", "*.b.*", "a.b.*", "x.y"}
	topics := []string{"a.b.c", "a.x.c", "a.b", "x.y", "q"}
	const workers, rounds = 4, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				f := filters[(i+w)%len(filters)]
				q := ""
				if i%3 == 0 {
					q = "g"
				}
				v := w*rounds + i
				if err := tr.Insert(f, q, v); err != nil {
					t.Error(err)
					return
				}
				if _, err := tr.Match(topics[i%len(topics)]); err != nil {
					t.Error(err)
					return
				}
				if err := tr.Remove(f, q, v); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			buf := make([]byte, 0, 16)
			for i := range rounds * 3 {
				buf = append(buf[:0], topics[(i+w)%len(topics)]...)
				r, err := tr.MatchBytes(buf)
				if err != nil || r == nil {
					t.Error(err)
					return
				}
				_ = r.Empty()
				_ = tr.Generation()
				_ = tr.Len()
			}
		})
	}
	wg.Wait()
	if tr.Len() != 0 {
		t.Fatalf("Len = %d after all removals", tr.Len())
	}
	for _, topic := range topics {
		if r, _ := tr.Match(topic); !r.Empty() {
			t.Fatalf("Match(%q) = %s after all removals", topic, render(r))
		}
	}
}
