package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// startMQTTServers builds and starts the MQTT brokers of the rows:
// ../cmd/broker with MQTT linked in (mqtt.listen) and with
// ../cmd/mqtt-plugin as a plugin process (one broker process serves
// both, on two ports), mosquitto (the Debian package) and mochi-mqtt
// (./mochi, its own process). Each gets room to queue a burst.
func startMQTTServers(dir, mosquittoBin string) (*servers, []mqttSystem, map[string][]int, error) {
	s := &servers{dir: dir}
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/broker", "./cmd/mqtt-plugin")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		return nil, nil, nil, fmt.Errorf("building: %v\n%s", err, out)
	}
	mochi := exec.Command("go", "build", "-o", filepath.Join(dir, "mochi"), "./mochi")
	if out, err := mochi.CombinedOutput(); err != nil {
		return nil, nil, nil, fmt.Errorf("building mochi: %v\n%s", err, out)
	}
	linked, plugin, mosq, mo := freeTCPPort(), freeTCPPort(), freeTCPPort(), freeTCPPort()
	cfg := fmt.Sprintf(`retained:
  store: memory
limits:
  max_pending: 1GiB
  max_connections: 100000
tcp:
  listen: ""
ws:
  listen: ""
quic:
  listen: ""
http:
  listen: ""
mqtt:
  listen: %q
  receive_maximum: 65535
plugins:
  - name: mqttp
    path: %q
    settings:
      listen: %q
      receive_maximum: "65535"
`, linked, filepath.Join(dir, "mqtt-plugin"), plugin)
	cfgFile := filepath.Join(dir, "broker.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, nil, nil, err
	}
	mt := exec.Command(filepath.Join(dir, "broker"), "--config", cfgFile, "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	mt.Stderr = os.Stderr
	if err := s.start(mt); err != nil {
		return nil, nil, nil, err
	}
	host, port, _ := strings.Cut(mosq, ":")
	mconf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(mconf, []byte(fmt.Sprintf("listener %s %s\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\nmax_connections -1\n", port, host)), 0o600)
	if err := s.start(exec.Command(mosquittoBin, "-c", mconf)); err != nil {
		return nil, nil, nil, fmt.Errorf("mosquitto: %w", err)
	}
	if err := s.start(exec.Command(filepath.Join(dir, "mochi"), "--addr", mo)); err != nil {
		return nil, nil, nil, err
	}
	systems := []mqttSystem{{"msgtrans", linked}, {"msgtrans plugin", plugin}, {"mosquitto", mosq}, {"mochi-mqtt", mo}}
	for _, sys := range systems {
		if err := waitMQTT(sys.addr); err != nil {
			s.stop()
			return nil, nil, nil, fmt.Errorf("%s: %w", sys.name, err)
		}
	}
	broker := s.procs[0].Process.Pid
	pids := map[string][]int{
		"msgtrans":        {broker},
		"msgtrans plugin": append([]int{broker}, children(broker)...),
		"mosquitto":       {s.procs[1].Process.Pid},
		"mochi-mqtt":      {s.procs[2].Process.Pid},
	}
	return s, systems, pids, nil
}

func waitMQTT(addr string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := dialMQTT(addr, "bench-probe")
		if err == nil {
			c.close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
