package mqtt_test

import (
	"testing"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
)

// BenchmarkPublishDeliver measures MQTT publish -> broker -> MQTT deliver
// over loopback TCP, with the protocol linked into the broker: one
// publisher writing 16-byte QoS 0 (or QoS 1, acknowledged) PUBLISHes in
// batches, one subscriber reading them. docs/benchmarks.md records it.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, qos := range []packet.QoS{0, 1} {
		b.Run("qos"+string('0'+rune(qos)), func(b *testing.B) {
			e := start(b, map[string]string{"receive_maximum": "65535"}, broker.Options{})
			sub := e.raw(b, packet.V5)
			sub.connect(&packet.Connect{ClientID: []byte("bsub"), CleanStart: true})
			sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("bench/t"), QoS: qos}}})
			sub.expect(packet.TypeSuback)
			pub := e.raw(b, packet.V5)
			pub.connect(&packet.Connect{ClientID: []byte("bpub"), CleanStart: true, KeepAlive: 60})

			const batch = 100
			payload := make([]byte, 16)
			var buf []byte
			for i := range batch {
				p := &packet.Publish{QoS: qos, Topic: []byte("bench/t"), Payload: payload}
				if qos > 0 {
					p.PacketID = uint16(i + 1)
				}
				buf, _ = p.Append(buf, packet.V5)
			}
			done := make(chan error, 1)
			n := (b.N + batch - 1) / batch * batch
			go func() {
				var acks []byte
				for i := range n {
					p, err := sub.read(wait)
					if err != nil {
						done <- err
						return
					}
					if qos > 0 {
						acks, _ = (&packet.Puback{PacketID: p.(*packet.Publish).PacketID}).Append(acks, packet.V5)
						if (i+1)%batch == 0 {
							sub.nc.Write(acks)
							acks = acks[:0]
						}
					}
				}
				done <- nil
			}()
			b.ReportAllocs()
			b.SetBytes(16)
			b.ResetTimer()
			for i := 0; i < n; i += batch {
				if _, err := pub.nc.Write(buf); err != nil {
					b.Fatal(err)
				}
				if qos > 0 {
					for range batch {
						if _, err := pub.read(wait); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
