package tcp_test

import (
	"encoding/binary"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
)

// Before HELLO (before any authentication) the frame limit is small, so a
// header declaring a frame of MaxFrame bytes cannot make the broker
// allocate that much per connection.
func TestUnidentifiedClientsCannotReserveLargeBuffers(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const N = 300
	conns := make([]net.Conn, 0, N)
	for range N {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		var h [7]byte
		binary.BigEndian.PutUint32(h[:], 1<<20) // HELLO declaring a 1 MiB body
		h[4] = 0x01
		h[6] = 0x01
		c.Write(h[:])
		conns = append(conns, c)
	}
	time.Sleep(500 * time.Millisecond)
	runtime.ReadMemStats(&after)
	grew := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) >> 20
	t.Logf("%d unauthenticated connections that sent 7 bytes each: broker heap grew %d MiB", N, grew)
	if grew > N/3 { // 1 MiB each without the handshake limit
		t.Errorf("unidentified clients made the broker allocate %d MiB", grew)
	}
	for _, c := range conns {
		c.Close()
	}
}
