package topics

import (
	"slices"
	"strings"
	"testing"
)

func indexMatch[V any](x *Index[V], filter string) []string {
	var got []string
	x.Match(filter, func(topic string, _ V) bool {
		got = append(got, topic)
		return true
	})
	slices.Sort(got)
	return got
}

func TestIndexSetGetDelete(t *testing.T) {
	x := NewIndex[int]()
	if _, ok := x.Get("a"); ok || x.Len() != 0 {
		t.Fatal("empty index has a value")
	}
	x.Set("a.b", 1)
	x.Set("a.b.c", 2)
	x.Set("a", 3)
	x.Set("a.b", 4) // replace
	if x.Len() != 3 {
		t.Fatalf("Len = %d, want 3", x.Len())
	}
	for topic, want := range map[string]int{"a.b": 4, "a.b.c": 2, "a": 3} {
		if v, ok := x.Get(topic); !ok || v != want {
			t.Errorf("Get(%q) = %d, %v; want %d", topic, v, ok, want)
		}
	}
	for _, topic := range []string{"b", "a.c", "a.b.c.d", "", "a.", "a.b."} {
		if _, ok := x.Get(topic); ok {
			t.Errorf("Get(%q) found a value", topic)
		}
	}
	if x.Delete("a.x") || x.Delete("a.b.c.d") || x.Delete("") {
		t.Fatal("Delete of a missing topic reported true")
	}
	if !x.Delete("a.b") || x.Delete("a.b") {
		t.Fatal("Delete(a.b) should succeed once")
	}
	if _, ok := x.Get("a.b"); ok || x.Len() != 2 {
		t.Fatalf("a.b still present or Len = %d", x.Len())
	}
	if v, ok := x.Get("a.b.c"); !ok || v != 2 {
		t.Fatal("Delete(a.b) lost a.b.c")
	}
}

func TestIndexMatch(t *testing.T) {
	x := NewIndex[string]()
	all := []string{"a", "a.b", "a.c", "a.b.c", "a.b.d", "x.b.c", "x.y.z.w", "日本.東京", "$SYS.a", "$SYS", "a.$b"}
	for _, topic := range all {
		x.Set(topic, "v:"+topic)
	}
	tests := []struct {
		filter string
		want   string
	}{
		{"a", "a"},
		{"a.b", "a.b"},
		{"a.b.c", "a.b.c"},
		{"a.x", ""},
		{"*", "a"},
		{"*.b", "a.b"},
		{"*.b.*", "a.b.c a.b.d x.b.c"},
		{"*.*.c", "a.b.c x.b.c"},
		{"a.>", "a.$b a.b a.b.c a.b.d a.c"},
		{">", "a a.$b a.b a.b.c a.b.d a.c x.b.c x.y.z.w 日本.東京"},
		{"*.>", "a.$b a.b a.b.c a.b.d a.c x.b.c x.y.z.w 日本.東京"},
		{"$SYS.>", "$SYS.a"},
		{"$SYS.*", "$SYS.a"},
		{"$SYS", "$SYS"},
		{"a.*", "a.$b a.b a.c"},
		{"x.*.>", "x.b.c x.y.z.w"},
		{"a.b.c.>", ""},
		{"日本.*", "日本.東京"},
		// Invalid filters match nothing.
		{"a.>.c", ""},
		{"", ""},
		{"a*", ""},
	}
	for _, tt := range tests {
		got := indexMatch(x, tt.filter)
		if strings.Join(got, " ") != tt.want {
			t.Errorf("Match(%q) = %q, want %q", tt.filter, got, tt.want)
		}
		// Reference check against MatchFilter.
		var want []string
		for _, topic := range all {
			if MatchFilter(tt.filter, topic) {
				want = append(want, topic)
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %q, MatchFilter says %q", tt.filter, got, want)
		}
	}
	x.Match("a.b.c", func(topic, v string) bool {
		if v != "v:a.b.c" {
			t.Errorf("value %q for %q", v, topic)
		}
		return true
	})
}

func TestIndexMatchStops(t *testing.T) {
	x := NewIndex[int]()
	for i, topic := range []string{"a.1", "a.2", "a.3", "a.4.x", "a.5.y.z", "b"} {
		x.Set(topic, i)
	}
	for _, filter := range []string{"a.*", "a.>", ">", "*.*"} {
		for stop := 1; stop <= 3; stop++ {
			calls := 0
			x.Match(filter, func(string, int) bool {
				calls++
				return calls < stop
			})
			if calls != stop {
				t.Errorf("Match(%q) made %d calls, want to stop after %d", filter, calls, stop)
			}
		}
	}
}

func TestIndexPrune(t *testing.T) {
	x := NewIndex[int]()
	for round := range 3 {
		for i, topic := range []string{"a", "a.b.c.d", "a.b", "x.y.z", "a.b.e", "日本.東京"} {
			x.Set(topic, round*10+i)
		}
		for _, topic := range []string{"a.b.c.d", "a", "x.y.z", "a.b", "a.b.e", "日本.東京"} {
			if !x.Delete(topic) {
				t.Fatalf("Delete(%q) = false", topic)
			}
		}
		if x.Len() != 0 || x.root.kids != nil {
			t.Fatalf("round %d: index not pruned: Len %d, root %+v", round, x.Len(), x.root)
		}
	}
	// A deleted inner topic keeps the node while it has children.
	x.Set("a.b", 1)
	x.Set("a", 2)
	x.Delete("a")
	if v, ok := x.Get("a.b"); !ok || v != 1 {
		t.Fatal("deleting a lost a.b")
	}
	x.Delete("a.b")
	if x.root.kids != nil {
		t.Fatal("not pruned")
	}
}
