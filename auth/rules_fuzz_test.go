package auth

import (
	"strings"
	"testing"

	"github.com/msgtrans/msgtrans/topics"
)

// FuzzRules checks the compiled matching against the topics package's
// reference matcher: the trie matches a topic exactly when the filter does
// (allow semantics: a leading wildcard skips system topics), subset never
// claims a filter lies within a rule that misses one of its topics, and
// intersects never denies an overlap that a topic proves.
func FuzzRules(f *testing.F) {
	for _, s := range [][3]string{
		{"orders.>", "orders.eu.x", "orders.*"},
		{"*.b", "a.b", ">"},
		{"a.*.c", "a.b.c", "a.>"},
		{">", "$SYS.x", "$SYS.>"},
		{"a", "a", "a"},
		{"a.b.>", "a.b", "*.*"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, rule, topic, filter string) {
		if topics.ValidateFilter(rule) != nil || topics.ValidatePublish(topic) != nil {
			return
		}
		tr := &trie{}
		tr.add(strings.Split(rule, "."))
		if got, want := tr.match([]byte(topic), false), topics.MatchFilter(rule, topic); got != want {
			t.Fatalf("trie %q on %q: %v, reference %v", rule, topic, got, want)
		}
		if topics.ValidateFilter(filter) != nil {
			return
		}
		fm, rm := topics.MatchFilter(filter, topic), topics.MatchFilter(rule, topic)
		ft, rt := strings.Split(filter, "."), strings.Split(rule, ".")
		if fm && !rm && subset(ft, rt, false) {
			t.Fatalf("subset(%q, %q) but %q matches only the filter", filter, rule, topic)
		}
		if fm && rm && !intersects(ft, rt) {
			t.Fatalf("intersects(%q, %q) false but both match %q", filter, rule, topic)
		}
	})
}
