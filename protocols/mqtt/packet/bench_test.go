package packet

import "testing"

// benchPublish is the publish of the benchmarks: QoS 0, a 16-byte payload,
// at 5.0 also a Message Expiry Interval and a user property.
func benchPublish(v Version, props bool) *Publish {
	p := &Publish{Topic: []byte("sensors/1/temperature"), Payload: make([]byte, 16)}
	if props {
		p.Props.MessageExpiry = 60
		p.Props.Set(PropMessageExpiry)
		p.Props.User = users("trace", "0123456789")
	}
	return p
}

var benchCases = []struct {
	name  string
	v     Version
	props bool
}{{"3.1.1", V311, false}, {"5.0", V5, false}, {"5.0+props", V5, true}}

func BenchmarkReadPublish(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			data, err := benchPublish(bc.v, bc.props).Append(nil, bc.v)
			if err != nil {
				b.Fatal(err)
			}
			r := NewReader(&repeater{data: data}, 0)
			r.SetVersion(bc.v)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				p, err := r.ReadPacket()
				if err != nil {
					b.Fatal(err)
				}
				if len(p.(*Publish).Payload) != 16 {
					b.Fatal("payload")
				}
			}
		})
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			p := benchPublish(bc.v, bc.props)
			buf := make([]byte, 0, 256)
			n, _ := Size(p, bc.v)
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				var err error
				if buf, err = p.Append(buf[:0], bc.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
