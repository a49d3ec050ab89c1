package sdk_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/adapters/adapterstest"
	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/sdk"
)

// Large payloads from several publishers at once arrive intact on every
// transport: the read buffers that large frames borrow from a shared pool,
// in the broker and in the SDK, never carry one connection's bytes into
// another's messages.
func TestLargePayloadsFromManyPublishersIntact(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxPayload: 2 << 20}})
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			sub := dialTransport(t, srv, tr)
			const pubs, each = 3, 30
			var mu sync.Mutex
			got, bad := 0, 0
			done := make(chan struct{})
			_, err := sub.Subscribe("big."+tr+".*", func(m *sdk.Msg) {
				mu.Lock()
				defer mu.Unlock()
				b := m.Data[0]
				if len(m.Data) < 100<<10 || !bytes.Equal(m.Data, bytes.Repeat([]byte{b}, len(m.Data))) || m.Topic != "big."+tr+"."+string(rune('a'+b)) {
					bad++
				}
				if got++; got == pubs*each {
					close(done)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			flush(t, sub)
			var wg sync.WaitGroup
			for p := range pubs {
				pub := dialTransport(t, srv, tr)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						size := 100<<10 + (p*each+i)*7919%(900<<10) // 100 KiB to 1 MiB
						if err := pub.Publish("big."+tr+"."+string(rune('a'+p)), bytes.Repeat([]byte{byte(p)}, size)); err != nil {
							t.Error(err)
							return
						}
					}
					pub.Flush(context.Background())
				}()
			}
			wg.Wait()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("received %d of %d", got, pubs*each)
			}
			mu.Lock()
			defer mu.Unlock()
			if bad > 0 {
				t.Fatalf("%d of %d messages were corrupted or misrouted", bad, pubs*each)
			}
		})
	}
}

// Messages of every size, small and large interleaved (so that writers
// batch them together), reach a subscriber whole and in the order they
// were published, on every transport; a Flush after them returns only
// once the broker has them all.
func TestMixedSizesInOrder(t *testing.T) {
	srv := adapterstest.Start(t, adapterstest.Config{Broker: broker.Options{MaxPayload: 2 << 20}})
	sizes := []int{0, 16, 3 << 10, 4 << 10, 16 << 10, 70 << 10, 256 << 10, 1 << 20, 100}
	const rounds = 8
	payload := func(i int) []byte {
		p := bytes.Repeat([]byte{byte(i*7 + 1)}, sizes[i%len(sizes)])
		if len(p) >= 4 {
			binary.BigEndian.PutUint32(p, uint32(i))
		}
		return p
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			sub := dialTransport(t, srv, tr)
			s, err := sub.SubscribeSync("mixed." + tr)
			if err != nil {
				t.Fatal(err)
			}
			flush(t, sub)
			pub := dialTransport(t, srv, tr)
			for i := range rounds * len(sizes) {
				if err := pub.Publish("mixed."+tr, payload(i)); err != nil {
					t.Fatal(err)
				}
			}
			flush(t, pub)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := range rounds * len(sizes) {
				m, err := s.NextMsg(ctx)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !bytes.Equal(m.Data, payload(i)) {
					t.Fatalf("message %d: %d bytes, want %d (out of order or corrupted)", i, len(m.Data), len(payload(i)))
				}
			}
		})
	}
}
