package main

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
)

// mqttConn is the MQTT load generator's client: the same code against
// every broker, MQTT 3.1.1 over TCP, packets written in batches and read
// with the packet package's Reader (no allocation per message).
type mqttConn struct {
	nc  net.Conn
	r   *packet.Reader
	wmu sync.Mutex
}

const mqttVersion = packet.V311

func dialMQTT(addr, id string) (*mqttConn, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &mqttConn{nc: nc, r: packet.NewReader(nc, 1<<20)}
	c.r.SetVersion(mqttVersion)
	if err := c.write(&packet.Connect{ClientID: []byte(id), CleanStart: true, KeepAlive: 0}); err != nil {
		nc.Close()
		return nil, err
	}
	p, err := c.read(10 * time.Second)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %w", id, err)
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != 0 {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %v", id, p)
	}
	return c, nil
}

func (c *mqttConn) write(p packet.Packet) error {
	b, err := p.Append(nil, mqttVersion)
	if err != nil {
		return err
	}
	return c.writeRaw(b)
}

func (c *mqttConn) writeRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(time.Minute))
	_, err := c.nc.Write(b)
	return err
}

// read returns the next packet, valid until the next read.
func (c *mqttConn) read(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	return c.r.ReadPacket()
}

func (c *mqttConn) subscribe(filter string, qos packet.QoS) error {
	if err := c.write(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte(filter), QoS: qos}}}); err != nil {
		return err
	}
	for {
		p, err := c.read(10 * time.Second)
		if err != nil {
			return err
		}
		if sa, ok := p.(*packet.Suback); ok {
			if sa.ReasonCodes[0] >= 0x80 {
				return fmt.Errorf("subscribe %s refused", filter)
			}
			return nil
		}
	}
}

// ping waits for a PINGRESP: the broker has read everything sent before.
func (c *mqttConn) ping() error {
	if err := c.write(&packet.Pingreq{}); err != nil {
		return err
	}
	for {
		p, err := c.read(time.Minute)
		if err != nil {
			return err
		}
		if p.Type() == packet.TypePingresp {
			return nil
		}
	}
}

func (c *mqttConn) close() {
	c.write(&packet.Disconnect{})
	c.nc.Close()
}

// publishes encodes n QoS 0 PUBLISHes (QoS 1 with ids from id0) to topic.
func publishes(topic string, payload []byte, qos packet.QoS, n int, id0 uint16) []byte {
	var b []byte
	for i := range n {
		p := &packet.Publish{QoS: qos, Topic: []byte(topic), Payload: payload}
		if qos > 0 {
			p.PacketID = id0 + uint16(i)
			if p.PacketID == 0 {
				p.PacketID = 1
			}
		}
		b, _ = p.Append(b, mqttVersion)
	}
	return b
}
