package topics

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// explodeFilters are the 2^bits filters of explodeTree, by value.
func explodeFilters(bits int) []string {
	fs := make([]string, 1<<bits)
	for i := range fs {
		var f strings.Builder
		for bit := range bits {
			if i&(1<<bit) != 0 {
				f.WriteString("*.")
			} else {
				f.WriteString("a.")
			}
		}
		f.WriteString("z")
		fs[i] = f.String()
	}
	return fs
}

// A walk longer than walkChunk, which lets go of its lock between chunks,
// finds exactly what MatchFilter says, for topics that match all, some or
// none of thousands of wildcard filters, a ">" and a system topic.
func TestMatchLongWalkExact(t *testing.T) {
	const bits = 12 // 4,096 filters, some 12,000 nodes on the widest walk
	filters := append(explodeFilters(bits), "a.>", "*.b.>", "$SYS.a.*")
	tr := NewTree[int](0)
	for v, f := range filters {
		if err := tr.Insert(f, "", v); err != nil {
			t.Fatal(err)
		}
	}
	a := strings.Repeat("a.", bits)
	for _, topic := range []string{
		a + "z",                              // every explode filter and a.>
		a + "y",                              // none of them, a walk of every path
		"b." + a[2:] + "z",                   // half of them (a `*` first)
		"a.b.c." + a[6:] + "z",               // a quarter, and *.b.>
		"a.a",                                // only a.>
		"$SYS.a.b",                           // the system filter only
		"$SYS." + a[2:] + "z",                // no leading wildcard for $SYS
		strings.Repeat("q.", bits) + "z",     // every all-`*` filter: one
		strings.Repeat("a.", bits-1) + "q.z", // those with `*` last: half
		strings.Repeat("a.", bits+1) + "z.z", // longer: a.> only
	} {
		var want []int
		for v, f := range filters {
			if MatchFilter(f, topic) {
				want = append(want, v)
			}
		}
		for round := range 3 { // miss, miss (cached), hit
			r, err := tr.Match(topic)
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(slices.Values(r.Plain))
			if !slices.Equal(got, want) {
				t.Fatalf("%s (round %d): %d matches, want %d", topic, round, len(got), len(want))
			}
		}
	}
}

// Subscriptions present throughout a long walk are all found, while
// other goroutines add and remove overlapping filters between its chunks
// (each change also drops the topic from the cache, so every match walks).
func TestMatchLongWalkBesideChanges(t *testing.T) {
	const bits = 12
	filters := explodeFilters(bits)
	tr := NewTree[int](0)
	for v, f := range filters {
		if err := tr.Insert(f, "", v); err != nil {
			t.Fatal(err)
		}
	}
	topic := strings.Repeat("a.", bits) + "z"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			// Filters that match the topic, and ones that share its
			// paths without matching it, coming and going.
			churn := []string{"a.>", strings.Repeat("*.", bits) + "z", "a.a.*.q", filters[w*7]}
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				f := churn[k%len(churn)]
				v := -1 - w
				if err := tr.Insert(f, "", v); err != nil {
					t.Error(err)
					return
				}
				if err := tr.Remove(f, "", v); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 200 {
		r, err := tr.Match(topic)
		if err != nil {
			t.Fatal(err)
		}
		seen := make([]bool, len(filters))
		for _, v := range r.Plain {
			if v >= 0 {
				seen[v] = true
			}
		}
		if i := slices.Index(seen, false); i >= 0 {
			t.Fatalf("subscription %d (%s), present throughout, missing from a match", i, filters[i])
		}
	}
	close(stop)
	wg.Wait()
}
