package sdk_test

import (
	"bytes"
	"context"
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
