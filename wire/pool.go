package wire

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// A Pool recycles the large buffers (over hotBuf) that Readers and Buffers
// hold while a large frame passes through. Without one, every frame larger
// than the working buffer allocates (and zeroes) a buffer of its size and
// drops it at once, and at 256 KiB per message collecting them is most of
// the work. With one, a connection hands its large buffer back as soon as it
// is empty, so that an idle connection holds only its small buffer, and the
// next large frame, on this connection or another, takes it again.
//
// Sizes come in classes four to a doubling (80, 96, 112, 128 KiB, 160 KiB,
// ...), so a buffer is at most a quarter larger than asked for.
// A Pool is safe for concurrent use; its zero value is ready.
type Pool struct {
	classes [poolClasses]sync.Pool // of *[]byte
	// small holds the initial buffers (initialBuf) that idle Buffers
	// gave back (Buffer.Idle), for whichever connection reads next.
	small sync.Pool    // of *[initialBuf]byte
	lent  atomic.Int64 // bytes of pooled sizes handed out and not back
}

// Lent returns the bytes of buffers handed out by get and not yet put
// back: what the pool's users hold now (the broker counts it in its
// memory budget).
func (p *Pool) Lent() int64 { return p.lent.Load() }

// poolClasses covers sizes over hotBuf (2^16) up to 2^(16+poolClasses/4):
// 80 KiB to 128 MiB (past the largest frame); larger buffers are not
// pooled.
const (
	poolShift   = 16 // log2(hotBuf)
	poolClasses = 4 * 11
)

// poolClass returns the class index for a buffer of at least n bytes and
// the class's size, or -1 and n when n is outside the pooled range.
func poolClass(n int) (int, int) {
	if n <= 1<<poolShift || n > 1<<(poolShift+poolClasses/4) {
		return -1, n
	}
	shift := bits.Len(uint(n-1)) - 1 // 2^shift < n <= 2^(shift+1)
	base := 1 << shift
	quarter := base / 4
	q := (n - base + quarter - 1) / quarter // 1..4
	return (shift-poolShift)*4 + q - 1, base + q*quarter
}

// Get returns a buffer of at least n bytes, from the pool when n is over
// 64 KiB (its length is then its size class's), else newly allocated. Its
// contents are whatever its last user left.
func (p *Pool) Get(n int) []byte {
	b, _ := p.get(n)
	return b
}

// Put hands back a buffer from Get, which the caller must no longer use
// (nor any slice of it). Buffers that are not of a pooled size are left to
// the garbage collector.
func (p *Pool) Put(b []byte) { p.put(b, nil) }

// get returns a buffer of at least n bytes (its length is its class's
// size) and the box it travelled in, for put to reuse: a sync.Pool holds
// pointers, and boxing a slice anew on every put would allocate.
func (p *Pool) get(n int) ([]byte, *[]byte) {
	c, size := poolClass(n)
	if c >= 0 && p != nil {
		p.lent.Add(int64(size))
		if box, ok := p.classes[c].Get().(*[]byte); ok {
			return *box, box
		}
	}
	return make([]byte, size), nil
}

// put hands b back for reuse, if it is a pooled size, in box if not nil.
func (p *Pool) put(b []byte, box *[]byte) {
	if p == nil {
		return
	}
	c, size := poolClass(cap(b))
	if c < 0 || size != cap(b) {
		return
	}
	p.lent.Add(-int64(size))
	if box == nil {
		box = new([]byte)
	}
	*box = b[:cap(b)]
	p.classes[c].Put(box)
}

// getSmall returns a buffer of initialBuf bytes, reused if p has one.
func (p *Pool) getSmall() []byte {
	if p != nil {
		if a, ok := p.small.Get().(*[initialBuf]byte); ok {
			return a[:]
		}
	}
	return make([]byte, initialBuf)
}

// putSmall hands back a buffer of exactly initialBuf bytes, which the
// caller no longer uses. The conversion to an array pointer boxes nothing.
func (p *Pool) putSmall(b []byte) {
	p.small.Put((*[initialBuf]byte)(b))
}
