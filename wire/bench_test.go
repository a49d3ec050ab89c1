package wire

import (
	"fmt"
	"testing"
)

var sizes = []int{16, 1024}

func BenchmarkAppendPub(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			payload := make([]byte, size)
			buf := make([]byte, 0, 2048)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				buf = AppendPub(buf[:0], "orders.eu.created", "", nil, payload, false, 0)
			}
		})
	}
}

func BenchmarkAppendMsg(b *testing.B) {
	topic := []byte("orders.eu.created")
	for _, size := range sizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			payload := make([]byte, size)
			buf := make([]byte, 0, 2048)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				buf = AppendMsg(buf[:0], 0, 42, topic, nil, nil, payload)
			}
		})
	}
}

func BenchmarkDecodePub(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			p := AppendPub(nil, "orders.eu.created", "_INBOX.abc.1", nil, make([]byte, size), false, 0)
			var f Frame
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := Decode(p, &f, DefaultMaxFrame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeMsg(b *testing.B) {
	hdr := AppendHeader(nil, map[string][]string{"id": {"42"}})
	for _, size := range sizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			p := AppendMsg(nil, 0, 42, []byte("orders.eu.created"), nil, hdr, make([]byte, size))
			var f Frame
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := Decode(p, &f, DefaultMaxFrame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loopReader returns its data over and over, as much as fits in each read.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

func BenchmarkReaderNext(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var block []byte
			for range 1000 {
				block = AppendPub(block, "orders.eu.created", "", nil, make([]byte, size), false, 0)
			}
			r := NewReader(&loopReader{data: block}, 0)
			var f Frame
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := r.Next(&f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	pub := AppendPub(nil, "orders.eu.created", "_INBOX.a.1", AppendHeader(nil, map[string][]string{"k": {"v"}}), make([]byte, 100), true, 3)
	var f Frame
	if a := testing.AllocsPerRun(100, func() { Decode(pub, &f, 0) }); a != 0 {
		t.Errorf("Decode PUB: %v allocations", a)
	}
	var block []byte
	for range 100 {
		block = append(block, pub...)
	}
	r := NewReader(&loopReader{data: block}, 0)
	if a := testing.AllocsPerRun(1000, func() {
		if err := r.Next(&f); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Reader.Next: %v allocations", a)
	}
}

// frameReader is a socket that a publisher writes one frame at a time to
// and the reader keeps up with: each read returns at most chunk bytes and
// never goes past the end of the current frame, so that the buffer is
// empty between frames (the case where a reader may let its buffer go).
type frameReader struct {
	data  []byte
	frame int // the length of each (equal) frame
	off   int
	chunk int
}

func (r *frameReader) Read(p []byte) (int, error) {
	end := (r.off/r.frame + 1) * r.frame // the current frame's end
	n := min(len(p), r.chunk, end-r.off)
	copy(p, r.data[r.off:r.off+n])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

// BenchmarkReaderLargeFrames reads large PUB frames the way they arrive
// from a socket: 64 KiB at a time at most, the buffer empty between frames.
func BenchmarkReaderLargeFrames(b *testing.B) {
	for _, size := range []int{16 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			frame := AppendPub(nil, "orders.eu.created", "", nil, make([]byte, size), false, 0)
			var block []byte
			for range 4 {
				block = append(block, frame...)
			}
			r := NewReader(&frameReader{data: block, frame: len(frame), chunk: 64 << 10}, 2<<20)
			r.SetPool(new(Pool))
			var f Frame
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := r.Next(&f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodePubHeaders decodes a PUB with a typical header block,
// whose keys and values are checked for UTF-8 on the way in: all ASCII (one
// pass over the block), and with one non-ASCII value (each string checked).
func BenchmarkDecodePubHeaders(b *testing.B) {
	for _, note := range []string{"delivery confirmed", "réception confirmée ✓"} {
		name := "ascii"
		if note[1] >= 0x80 {
			name = "utf8"
		}
		b.Run(name, func(b *testing.B) {
			hdr := AppendHeader(nil, map[string][]string{
				"content-type": {"application/json"}, "trace-id": {"4bf92f3577b34da6a3ce929d0e0e4736"},
				"source": {"orders-service"}, "note": {note},
			})
			p := AppendPub(nil, "orders.eu.created", "", hdr, make([]byte, 128), false, 0)
			var f Frame
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(p, &f, DefaultMaxFrame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
