package monitor

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

// nopConn takes deliveries and drops them, and says nothing waits.
type nopConn struct{}

func (nopConn) Deliver(uint32, *broker.Message) (int, bool) { return 0, true }
func (nopConn) Ack(uint64, error)                           {}
func (nopConn) Close(error)                                 {}
func (nopConn) Revoke(uint32, error)                        {}
func (nopConn) Pending() int                                { return 0 }

// What one look at a broker with 10,000 connections costs the broker's
// process: a /metrics scrape, a /connz page sorted by bytes, and the
// once-a-second sample.
func BenchmarkLook(b *testing.B) {
	br, err := broker.New(broker.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	for i := range 10000 {
		s, err := br.Connect(broker.SessionInfo{Peer: broker.Peer{Protocol: "tcp"}, Name: fmt.Sprint("c", i)}, broker.Credentials{}, nopConn{})
		if err != nil {
			b.Fatal(err)
		}
		s.Subscribe(1, fmt.Sprintf("t.%d", i), broker.SubOptions{})
		s.Publish(&broker.Message{Topic: []byte("t.x"), Payload: make([]byte, i%100)})
	}
	s, err := New(br, Options{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	url := serve(b, s)
	for _, path := range []string{"/metrics", "/connz?sort=bytes&limit=10", "/varz"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				resp, err := http.Get(url + path)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	b.Run("sample", func(b *testing.B) {
		for b.Loop() {
			s.act.sample(time.Now())
		}
	})
}
