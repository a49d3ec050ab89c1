package topics

import (
	"fmt"
	"testing"
)

// benchFilter returns the i-th filter of a benchmark tree. Literal trees hold
// "svc.<i%1000>.ev.<i>"; wildcard trees mix that with "svc.<a>.*.<i>",
// "svc.*.ev.<i>" and "svc.<a>.ev.>". The last gives topics whose a%4 == 3 a
// fan-out of n/1000 (the topic of benchTopic(n, 1) is one of them).
func benchFilter(kind string, i int) string {
	a := i % 1000
	if kind == "wildcard" {
		switch i % 4 {
		case 1:
			return fmt.Sprintf("svc.%d.*.%d", a, i)
		case 2:
			return fmt.Sprintf("svc.*.ev.%d", i)
		case 3:
			return fmt.Sprintf("svc.%d.ev.>", a)
		}
	}
	return fmt.Sprintf("svc.%d.ev.%d", a, i)
}

func benchTopic(n, j int) string {
	i := (j * 7919) % n
	return fmt.Sprintf("svc.%d.ev.%d", i%1000, i)
}

func benchTree(b *testing.B, kind string, n, cacheSize int) *Tree[int] {
	b.Helper()
	tr := NewTree[int](cacheSize)
	for i := range n {
		if err := tr.Insert(benchFilter(kind, i), "", i); err != nil {
			b.Fatal(err)
		}
	}
	return tr
}

func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, kind := range []string{"literal", "wildcard"} {
			b.Run(fmt.Sprintf("subs=%dk/%s", n/1000, kind), func(b *testing.B) {
				hitTree := benchTree(b, kind, n, 0)
				topic := benchTopic(n, 1)
				topicBytes := []byte(topic)
				if r, _ := hitTree.Match(topic); r.Empty() {
					b.Fatalf("no subscriber for %q", topic)
				}
				b.Run("hit", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						hitTree.Match(topic)
					}
				})
				b.Run("hit-bytes", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						hitTree.MatchBytes(topicBytes)
					}
				})
				b.Run("hit-parallel", func(b *testing.B) {
					b.ReportAllocs()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							hitTree.MatchBytes(topicBytes)
						}
					})
				})
				// 4096 rotating topics through a 16-entry cache: almost
				// every call misses, validates, walks the trie and stores.
				missTree := benchTree(b, kind, n, 16)
				rot := make([][]byte, 4096)
				for j := range rot {
					rot[j] = []byte(benchTopic(n, j))
				}
				b.Run("miss", func(b *testing.B) {
					b.ReportAllocs()
					j := 0
					for b.Loop() {
						missTree.MatchBytes(rot[j%len(rot)])
						j++
					}
				})
			})
		}
	}
}

func BenchmarkInsert(b *testing.B) {
	for _, kind := range []string{"literal", "wildcard"} {
		const n = 100_000
		filters := make([]string, n)
		for i := range filters {
			filters[i] = benchFilter(kind, i)
		}
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			tr := NewTree[int](0)
			i := 0
			for b.Loop() {
				// Values keep the (filter, value) pairs distinct past n.
				if err := tr.Insert(filters[i%n], "", i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(kind+"/insert-remove", func(b *testing.B) {
			b.ReportAllocs()
			tr := benchTree(b, kind, 10_000, 0)
			i := 0
			for b.Loop() {
				f := filters[i%n]
				if err := tr.Insert(f, "q", -1); err != nil {
					b.Fatal(err)
				}
				if err := tr.Remove(f, "q", -1); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkValidatePublish(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidatePublish("orders.eu.created.2024.v1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIndexMatch(b *testing.B) {
	x := NewIndex[int]()
	const n = 100_000
	for i := range n {
		x.Set(benchTopic(n, i), i)
	}
	for _, filter := range []string{"svc.7.ev.7", "svc.7.ev.*", "svc.*.ev.7", "svc.7.>"} {
		b.Run("topics=100k/filter="+filter, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				x.Match(filter, func(string, int) bool { return true })
			}
		})
	}
}
