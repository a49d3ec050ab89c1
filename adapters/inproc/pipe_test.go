package inproc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// The pipe behaves as a net.Conn should: data, deadlines, Close, and
// concurrent calls (nettest's conformance suite).
func TestPipeIsAConn(t *testing.T) {
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		a, b := Pipe()
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

// A write cut short by its deadline reports how much the reader took, and
// the rest is not read later: the engine goes on from that count.
func TestPipeWriteDeadlineCountsWhatWasTaken(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	defer b.Close()
	got := make(chan []byte, 1)
	go func() {
		p := make([]byte, 4)
		n, _ := io.ReadFull(b, p)
		got <- p[:n]
	}()
	a.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := a.Write([]byte("0123456789"))
	if n != 4 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write: %d, %v; want 4 and a timeout", n, err)
	}
	if p := <-got; string(p) != "0123" {
		t.Fatalf("read %q", p)
	}
	a.SetWriteDeadline(time.Time{})
	go a.Write([]byte("next"))
	p := make([]byte, 16)
	n, err = b.Read(p)
	if err != nil || string(p[:n]) != "next" {
		t.Fatalf("after the timeout: %q %v", p[:n], err)
	}
}

// Closing one end: the other reads io.EOF and cannot write; this end's
// calls fail with net.ErrClosed, a blocked Write included.
func TestPipeClose(t *testing.T) {
	a, b := Pipe()
	blocked := make(chan error, 1)
	go func() {
		_, err := a.Write([]byte("never read"))
		blocked <- err
	}()
	// Wait until the write is offered, by reading one byte of it.
	one := make([]byte, 1)
	if _, err := b.Read(one); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := <-blocked; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked Write: %v", err)
	}
	if _, err := a.Read(one); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := b.Read(one); err != io.EOF {
		t.Fatalf("peer Read: %v", err)
	}
	if _, err := b.Write(one); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("peer Write: %v", err)
	}
	if err := a.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetDeadline after Close: %v", err)
	}
}

// Writes from several goroutines do not interleave: each Write's bytes
// arrive together.
func TestPipeWritesDoNotInterleave(t *testing.T) {
	a, b := Pipe()
	defer b.Close()
	const writers, each = 8, 200
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			rec := bytes.Repeat([]byte{byte('a' + w)}, 100)
			for range each {
				if _, err := a.Write(rec); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() {
		for range writers {
			<-done
		}
		a.Close()
	}()
	all, err := io.ReadAll(b)
	if err != nil || len(all) != writers*each*100 {
		t.Fatalf("read %d bytes, %v", len(all), err)
	}
	for i := 0; i < len(all); i += 100 {
		if rec := all[i : i+100]; bytes.Count(rec, rec[:1]) != 100 {
			t.Fatalf("record at %d mixes writers: %q", i, rec)
		}
	}
}

// BenchmarkPipe moves bytes through the pipe and through net.Pipe, with
// the read buffer the engine's frame reader starts with (1 KiB) and the
// one it grows to (64 KiB).
func BenchmarkPipe(b *testing.B) {
	pipes := map[string]func() (net.Conn, net.Conn){
		"net.Pipe": net.Pipe,
		"pipe":     Pipe,
	}
	for _, name := range []string{"net.Pipe", "pipe"} {
		for _, write := range []int{64, 4 << 10, 256 << 10} {
			for _, read := range []int{1 << 10, 64 << 10} {
				b.Run(fmt.Sprintf("%s/write=%d/read=%d", name, write, read), func(b *testing.B) {
					benchPipe(b, pipes[name], write, read)
				})
			}
		}
	}
}

func benchPipe(b *testing.B, mk func() (net.Conn, net.Conn), write, read int) {
	w, r := mk()
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, read)
		for {
			if _, err := r.Read(buf); err != nil {
				if err == io.EOF {
					err = nil
				}
				done <- err
				return
			}
		}
	}()
	p := make([]byte, write)
	b.ReportAllocs()
	b.SetBytes(int64(write))
	for b.Loop() {
		if _, err := w.Write(p); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
