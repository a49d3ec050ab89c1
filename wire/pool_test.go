package wire

import "testing"

// Every size in the pooled range maps to a class whose size holds it, at
// most a quarter larger, and each class's own size maps to itself.
func TestPoolClasses(t *testing.T) {
	prev := -1
	for n := hotBuf + 1; n <= 64<<20; n += 997 {
		c, size := poolClass(n)
		if c < 0 {
			t.Fatalf("%d: not pooled", n)
		}
		if size < n || size > n+n/4+1 {
			t.Fatalf("%d: class %d of size %d", n, c, size)
		}
		if c < prev {
			t.Fatalf("%d: class %d after %d", n, c, prev)
		}
		prev = c
		if c2, s2 := poolClass(size); c2 != c || s2 != size {
			t.Fatalf("class size %d maps to class %d size %d, want %d %d", size, c2, s2, c, size)
		}
	}
	if c, _ := poolClass(hotBuf); c >= 0 {
		t.Fatal("a working-size buffer is pooled")
	}
	if c, _ := poolClass(1<<(poolShift+poolClasses/4) + 1); c >= 0 {
		t.Fatal("a buffer past the last class is pooled")
	}
}

// Buffers put back are what later gets of their class return. (sync.Pool
// may drop any item, at a GC or at random under the race detector, so the
// test asks only that reuse happens, not that it always does.)
func TestPoolReuses(t *testing.T) {
	var p Pool
	seen := map[*byte]bool{}
	for range 100 {
		b, box := p.get(300 << 10)
		if seen[&b[0]] {
			if box == nil {
				t.Fatal("a pooled buffer came without its box")
			}
			return
		}
		seen[&b[0]] = true
		p.put(b, box)
	}
	t.Fatal("100 gets never returned a buffer put back")
}
