package packet

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"testing/iotest"
)

// stream encodes a CONNECT at level v followed by every sample of v.
func stream(t *testing.T, v Version) ([]byte, []Packet) {
	var b []byte
	ps := []Packet{&Connect{ClientID: []byte("s"), CleanStart: true}}
	ps = append(ps, samples(v)[1:]...) // samples begin with a CONNECT
	for _, p := range ps {
		var err error
		if b, err = p.Append(b, v); err != nil {
			t.Fatal(err)
		}
	}
	return b, ps
}

// TestReaderByteByByte reads a stream of every packet type that arrives
// one byte a read, and then in one read: the level comes from the CONNECT.
func TestReaderByteByByte(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		data, want := stream(t, v)
		for name, src := range map[string]io.Reader{
			"one byte a read": iotest.OneByteReader(bytes.NewReader(data)),
			"all at once":     bytes.NewReader(data),
			"half at a time":  iotest.HalfReader(bytes.NewReader(data)),
		} {
			r := NewReader(src, 0)
			for i, w := range want {
				p, err := r.ReadPacket()
				if err != nil {
					t.Fatalf("%v %s: packet %d (%v): %v", v, name, i, w.Type(), err)
				}
				if dump(p) != dump(w) {
					t.Fatalf("%v %s: packet %d\n%s\nwant\n%s", v, name, i, dump(p), dump(w))
				}
				if i == 0 && r.Version() != v {
					t.Fatalf("%v: Version %v after CONNECT", v, r.Version())
				}
			}
			if p, err := r.ReadPacket(); err != io.EOF {
				t.Fatalf("%v %s: after the last packet: %v, %v", v, name, p, err)
			}
		}
	}
}

func TestReaderEOFInsidePacket(t *testing.T) {
	data := mustAppend(t, &Publish{Topic: []byte("a/b"), Payload: []byte("payload")}, V311)
	for n := 1; n < len(data); n++ {
		r := NewReader(bytes.NewReader(data[:n]), 0)
		r.SetVersion(V311)
		if _, err := r.ReadPacket(); err != io.ErrUnexpectedEOF {
			t.Errorf("%d of %d bytes: %v", n, len(data), err)
		}
	}
}

// flakyReader returns errTimeout once after every n bytes.
type flakyReader struct {
	data   []byte
	n, cnt int
}

var errTimeout = errors.New("timeout")

func (f *flakyReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, io.EOF
	}
	if f.cnt >= f.n {
		f.cnt = 0
		return 0, errTimeout
	}
	k := copy(p[:min(len(p), f.n-f.cnt)], f.data)
	f.data, f.cnt = f.data[k:], f.cnt+k
	return k, nil
}

// TestReaderRetry checks that a read error inside a packet loses nothing:
// the next call goes on where the last one stopped.
func TestReaderRetry(t *testing.T) {
	data, want := stream(t, V5)
	r := NewReader(&flakyReader{data: data, n: 7}, 0)
	errs := 0
	for i := 0; i < len(want); {
		p, err := r.ReadPacket()
		if err == errTimeout {
			errs++
			continue
		}
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if dump(p) != dump(want[i]) {
			t.Fatalf("packet %d\n%s\nwant\n%s", i, dump(p), dump(want[i]))
		}
		i++
	}
	if errs == 0 {
		t.Fatal("no timeouts")
	}
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestMaxPacketSizeBeforeAllocation declares packets far larger than the
// limit, and larger than what is sent: the Reader refuses the first from
// its fixed header and sets aside for the second no more than came.
func TestMaxPacketSizeBeforeAllocation(t *testing.T) {
	huge := cat(0x30, 0xFF, 0xFF, 0xFF, 0x7F) // PUBLISH, remaining length 268435455
	var err error
	var r *Reader
	n := allocated(func() {
		r = NewReader(io.MultiReader(bytes.NewReader(huge), neverEnds{}), 64<<10)
		r.SetVersion(V311)
		_, err = r.ReadPacket()
	})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("read: %v", err)
	}
	if code, _ := CodeOf(err); code != PacketTooLarge {
		t.Fatalf("code %v", code)
	}
	if n > 16<<10 {
		t.Errorf("allocated %d bytes to refuse a declared 256 MiB", n)
	}
	if _, again := r.ReadPacket(); again != err {
		t.Errorf("after a packet too large: %v", again)
	}

	// Within a limit of 256 MiB, 100 bytes of a declared 256 MiB arrive.
	n = allocated(func() {
		r = NewReader(bytes.NewReader(append(huge, make([]byte, 100)...)), MaxRemainingLength+5)
		r.SetVersion(V311)
		_, err = r.ReadPacket()
	})
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("read: %v", err)
	}
	if n > 16<<10 {
		t.Errorf("allocated %d bytes for 100 bytes of a declared 256 MiB", n)
	}
}

// neverEnds is an endless stream of zeros.
type neverEnds struct{}

func (neverEnds) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestMaxPacketSizeBoundary checks that the limit counts the whole packet,
// fixed header included, as 5.0's Maximum Packet Size does.
func TestMaxPacketSizeBoundary(t *testing.T) {
	p := &Publish{Topic: []byte("t"), Payload: make([]byte, 200)}
	data := mustAppend(t, p, V5)
	for _, tc := range []struct {
		max  int
		fits bool
	}{{len(data), true}, {len(data) - 1, false}} {
		r := NewReader(bytes.NewReader(data), tc.max)
		r.SetVersion(V5)
		_, err := r.ReadPacket()
		if tc.fits != (err == nil) || !tc.fits && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%d-byte packet, limit %d: %v", len(data), tc.max, err)
		}
	}
	r := NewReader(bytes.NewReader(append(data, data...)), 10)
	r.SetVersion(V5)
	r.SetMaxPacketSize(len(data))
	for range 2 {
		if _, err := r.ReadPacket(); err != nil {
			t.Errorf("after SetMaxPacketSize: %v", err)
		}
	}
}

// TestReaderBufferFollowsPackets reads a large packet, then small ones:
// the buffer grows for the first and goes back to its initial size.
func TestReaderBufferFollowsPackets(t *testing.T) {
	large := mustAppend(t, &Publish{Topic: []byte("big"), Payload: bytes.Repeat([]byte("x"), 100<<10)}, V311)
	small := mustAppend(t, &Publish{Topic: []byte("small"), Payload: []byte("y")}, V311)
	src := &packetReader{packets: [][]byte{large}}
	for range quietPackets + 2 {
		src.packets = append(src.packets, small)
	}
	src.packets = append(src.packets, large)
	r := NewReader(src, 0)
	r.SetVersion(V311)
	p, err := r.ReadPacket()
	if err != nil || len(p.(*Publish).Payload) != 100<<10 {
		t.Fatalf("large: %v", err)
	}
	if len(r.buf) < 100<<10 {
		t.Fatalf("buffer of %d bytes holds a packet of 100 KiB", len(r.buf))
	}
	for range quietPackets + 2 {
		if p, err = r.ReadPacket(); err != nil || string(p.(*Publish).Payload) != "y" {
			t.Fatalf("small: %v", err)
		}
	}
	if len(r.buf) != initialBuf {
		t.Errorf("buffer of %d bytes after %d small packets", len(r.buf), quietPackets+2)
	}
	if p, err = r.ReadPacket(); err != nil || len(p.(*Publish).Payload) != 100<<10 {
		t.Fatalf("large again: %v", err)
	}
}

// packetReader returns at most one packet a read, as a quiet connection
// does.
type packetReader struct{ packets [][]byte }

func (r *packetReader) Read(p []byte) (int, error) {
	if len(r.packets) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.packets[0])
	if r.packets[0] = r.packets[0][n:]; len(r.packets[0]) == 0 {
		r.packets = r.packets[1:]
	}
	return n, nil
}

// TestReaderReadsPublishWithoutAllocating reads QoS 0 and QoS 1 PUBLISH
// packets, with properties at 5.0, from a warm Reader.
func TestReaderReadsPublishWithoutAllocating(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		p := &Publish{Topic: []byte("sensors/1/temp"), QoS: 1, PacketID: 9, Payload: make([]byte, 16)}
		if v == V5 {
			p.Props.User = users("k", "v")
			p.Props.MessageExpiry = 30
			p.Props.Set(PropMessageExpiry)
		}
		src := &repeater{data: mustAppend(t, p, v)}
		r := NewReader(src, 0)
		r.SetVersion(v)
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := r.ReadPacket(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations a PUBLISH", v, allocs)
		}
	}
}

// repeater returns data over and over, as many whole copies as fit.
type repeater struct{ data []byte }

func (r *repeater) Read(p []byte) (int, error) {
	n := 0
	for len(p)-n >= len(r.data) {
		n += copy(p[n:], r.data)
	}
	if n == 0 {
		n = copy(p, r.data)
	}
	return n, nil
}

// TestSetVersionForClient reads a server's packets at the level the client
// sent.
func TestSetVersionForClient(t *testing.T) {
	data := mustAppend(t, &Connack{ReasonCode: NotAuthorized}, V5)
	r := NewReader(bytes.NewReader(data), 0)
	if _, err := r.ReadPacket(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("CONNACK before CONNECT at level 0: %v", err)
	}
	r = NewReader(bytes.NewReader(data), 0)
	r.SetVersion(V5)
	p, err := r.ReadPacket()
	if err != nil || p.(*Connack).ReasonCode != NotAuthorized {
		t.Fatalf("%v, %v", p, err)
	}
}

func TestBrokenSource(t *testing.T) {
	r := NewReader(zeroReader{}, 0)
	if _, err := r.ReadPacket(); err != io.ErrNoProgress {
		t.Errorf("(0, nil) forever: %v", err)
	}
	r = NewReader(badReader{}, 0)
	if _, err := r.ReadPacket(); err == nil {
		t.Error("a Read returning more than asked: no error")
	}
	// An os.File that is a directory cannot be read.
	d, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := NewReader(d, 0).ReadPacket(); err == nil {
		t.Error("reading a directory: no error")
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

type badReader struct{}

func (badReader) Read(p []byte) (int, error) { return len(p) + 1, nil }
