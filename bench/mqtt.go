package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
)

// The MQTT rows (issue 12): one load generator (mqttclient.go) against
// msgtrans with MQTT linked in, msgtrans with cmd/mqtt-plugin, mosquitto
// and mochi-mqtt, same run, 16-byte payloads by default.

type mqttSystem struct {
	name, addr string
}

type mqttScenario struct {
	name, unit string
	run        func(addr string) (float64, error)
}

func mqttScenarios(msgs int, payload []byte) []mqttScenario {
	return []mqttScenario{
		{"QoS 0 publish only", "msgs/s", func(a string) (float64, error) { return mqttPublishOnly(a, msgs, payload) }},
		{"QoS 0 1 -> 1", "msgs/s received", func(a string) (float64, error) { return mqttFanout(a, 1, msgs, payload) }},
		{"QoS 0 1 -> 100 fan-out", "msgs/s received, all subscribers", func(a string) (float64, error) { return mqttFanout(a, 100, msgs/100, payload) }},
		{"QoS 1 1 -> 1", "msgs/s received", func(a string) (float64, error) { return mqttQoS1(a, msgs/4, payload) }},
		{"1,000 pubs -> 1,000 subs, 1,000 topics", "msgs/s received", func(a string) (float64, error) { return mqttManyTopics(a, 1000, msgs/1000, payload) }},
	}
}

const batchPackets = 256

func mqttPublishOnly(addr string, n int, payload []byte) (float64, error) {
	c, err := dialMQTT(addr, "bench-pub")
	if err != nil {
		return 0, err
	}
	defer c.close()
	buf := publishes("bench/pub", payload, 0, batchPackets, 0)
	start := time.Now()
	for sent := 0; sent < n; sent += batchPackets {
		if err := c.writeRaw(buf); err != nil {
			return 0, err
		}
	}
	if err := c.ping(); err != nil {
		return 0, err
	}
	return float64((n+batchPackets-1)/batchPackets*batchPackets) / time.Since(start).Seconds(), nil
}

// count reads PUBLISHes from c until it has want of them, adding to got;
// with ack it answers each (QoS 1), in batches.
func count(c *mqttConn, want int64, got *atomic.Int64, ack bool) error {
	var acks []byte
	var mine int64
	for mine < want {
		p, err := c.read(stallTimeout)
		if err != nil {
			return fmt.Errorf("after %d of %d messages: %w", mine, want, err)
		}
		pub, ok := p.(*packet.Publish)
		if !ok {
			continue
		}
		mine++
		got.Add(1)
		if ack {
			acks, _ = (&packet.Puback{PacketID: pub.PacketID}).Append(acks, mqttVersion)
			if c.r.Buffered() == 0 || len(acks) > 4096 {
				if err := c.writeRaw(acks); err != nil {
					return err
				}
				acks = acks[:0]
			}
		}
	}
	return nil
}

func mqttFanout(addr string, subs, n int, payload []byte) (float64, error) {
	n = (n + batchPackets - 1) / batchPackets * batchPackets
	var got atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, subs+1)
	var conns []*mqttConn
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	for i := range subs {
		c, err := dialMQTT(addr, fmt.Sprintf("bench-sub-%d", i))
		if err != nil {
			return 0, err
		}
		conns = append(conns, c)
		if err := c.subscribe("bench/fan", 0); err != nil {
			return 0, err
		}
	}
	pub, err := dialMQTT(addr, "bench-fan-pub")
	if err != nil {
		return 0, err
	}
	conns = append(conns, pub)
	start := time.Now()
	for _, c := range conns[:subs] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := count(c, int64(n), &got, false); err != nil {
				errs <- err
			}
		}()
	}
	buf := publishes("bench/fan", payload, 0, batchPackets, 0)
	for sent := 0; sent < n; sent += batchPackets {
		if err := pub.writeRaw(buf); err != nil {
			return 0, err
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("%d of %d received: %w", got.Load(), subs*n, err)
	}
	return float64(got.Load()) / time.Since(start).Seconds(), nil
}

// mqttQoS1 publishes n QoS 1 messages with up to window unacknowledged,
// to one QoS 1 subscriber that acknowledges each.
func mqttQoS1(addr string, n int, payload []byte) (float64, error) {
	const window = 1000
	n = (n + 99) / 100 * 100
	sub, err := dialMQTT(addr, "bench-q1-sub")
	if err != nil {
		return 0, err
	}
	defer sub.close()
	if err := sub.subscribe("bench/q1", 1); err != nil {
		return 0, err
	}
	pub, err := dialMQTT(addr, "bench-q1-pub")
	if err != nil {
		return 0, err
	}
	defer pub.close()
	var got, acked atomic.Int64
	subErr := make(chan error, 1)
	start := time.Now()
	go func() { subErr <- count(sub, int64(n), &got, true) }()
	ackErr := make(chan error, 1)
	room := make(chan struct{}, window/100)
	for range window / 100 {
		room <- struct{}{}
	}
	go func() {
		for acked.Load() < int64(n) {
			p, err := pub.read(stallTimeout)
			if err != nil {
				ackErr <- err
				return
			}
			if p.Type() == packet.TypePuback {
				if acked.Add(1)%100 == 0 {
					room <- struct{}{}
				}
			}
		}
		ackErr <- nil
	}()
	id := uint16(1)
	for sent := 0; sent < n; sent += 100 {
		select {
		case <-room:
		case err := <-ackErr:
			return 0, fmt.Errorf("publisher: %d acked: %w", acked.Load(), err)
		}
		if err := pub.writeRaw(publishes("bench/q1", payload, 1, 100, id)); err != nil {
			return 0, err
		}
		id += 100
		if id > 60000 {
			id = 1
		}
	}
	if err := <-subErr; err != nil {
		return 0, err
	}
	return float64(got.Load()) / time.Since(start).Seconds(), nil
}

// mqttManyTopics: publisher i publishes n messages to topic i, which
// subscriber i alone subscribes to.
func mqttManyTopics(addr string, pairs, n int, payload []byte) (float64, error) {
	var got atomic.Int64
	var conns []*mqttConn
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	subs := make([]*mqttConn, pairs)
	pubs := make([]*mqttConn, pairs)
	for i := range pairs {
		var err error
		if subs[i], err = dialMQTT(addr, fmt.Sprintf("bench-ms-%d", i)); err != nil {
			return 0, err
		}
		conns = append(conns, subs[i])
		if err := subs[i].subscribe(fmt.Sprintf("bench/many/%d", i), 0); err != nil {
			return 0, err
		}
		if pubs[i], err = dialMQTT(addr, fmt.Sprintf("bench-mp-%d", i)); err != nil {
			return 0, err
		}
		conns = append(conns, pubs[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*pairs)
	start := time.Now()
	for i := range pairs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := count(subs[i], int64(n), &got, false); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if err := pubs[i].writeRaw(publishes(fmt.Sprintf("bench/many/%d", i), payload, 0, n, 0)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("%d of %d received: %w", got.Load(), pairs*n, err)
	}
	return float64(got.Load()) / time.Since(start).Seconds(), nil
}

// runMQTT measures every scenario against every system, runs times
// (alternating systems), and prints the medians.
func runMQTT(w io.Writer, progress io.Writer, systems []mqttSystem, msgs, size, runs int) error {
	scs := mqttScenarios(msgs, make([]byte, size))
	res := make([][][]float64, len(scs)) // [scenario][system][run]
	for i, sc := range scs {
		res[i] = make([][]float64, len(systems))
		for r := range runs {
			for j, s := range systems {
				v, err := sc.run(s.addr)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", sc.name, s.name, err)
				}
				fmt.Fprintf(progress, "%s, %s, run %d: %.0f\n", sc.name, s.name, r+1, v)
				res[i][j] = append(res[i][j], v)
			}
		}
	}
	var hdr []string
	for _, s := range systems {
		hdr = append(hdr, s.name)
	}
	fmt.Fprintf(w, "| MQTT scenario | %s | unit |\n|---|%s---|\n", strings.Join(hdr, " | "), strings.Repeat("---:|", len(systems)))
	for i, sc := range scs {
		var cells []string
		for j := range systems {
			cells = append(cells, fmt.Sprintf("%.0f", median(res[i][j])))
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", sc.name, strings.Join(cells, " | "), sc.unit)
	}
	return nil
}
