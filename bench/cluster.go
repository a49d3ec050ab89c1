package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// The "cluster" transport: three msgtrans brokers linked through a
// redis-server (docs/cluster.md), against three nats-servers linked by
// routes, all on loopback, clients over TCP. Each dial goes to the next
// node in turn, so a scenario's clients are spread over the three nodes:
// 1 -> 1 has its subscriber and publisher on different nodes, 1 -> 4 has
// one subscriber on the publisher's node and three on the others, and
// request-reply crosses nodes both ways. The row's "vs tcp" is the
// cluster against one msgtrans node over TCP.

// clusterSettle is how long a scenario waits after subscribing before it
// publishes: interest reaches the other nodes asynchronously, through
// Redis for msgtrans and over routes for NATS, and a message published
// before it arrives goes nowhere.
const clusterSettle = 300 * time.Millisecond

// clusterServers are the nodes' client addresses.
type clusterServers struct {
	mtTCP, natsTCP []string
}

// startCluster starts redis-server, three brokers (the binary startServers
// built) and three nats-servers, registering them with s for stop.
func startCluster(s *servers, natsBin string) (*clusterServers, error) {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (apt-get install redis-server): %w", err)
	}
	if _, err := exec.LookPath(natsBin); err != nil {
		return nil, fmt.Errorf("%s not found (apt-get install nats-server): %w", natsBin, err)
	}
	redisAddr := freeTCPPort()
	_, port, _ := strings.Cut(redisAddr, ":")
	if err := s.start(exec.Command(redisBin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir)); err != nil {
		return nil, err
	}
	if err := waitTCP(redisAddr); err != nil {
		return nil, err
	}
	cs := &clusterServers{}
	for i := range 3 {
		addr := freeTCPPort()
		name := fmt.Sprintf("n%d", i+1)
		cfg := fmt.Sprintf("retained:\n  store: bolt\nlimits:\n  max_pending: 1GiB\ntcp:\n  listen: %q\nws:\n  listen: \"\"\nquic:\n  listen: \"\"\nhttp:\n  listen: \"\"\nmqtt:\n  listen: \"\"\n"+
			"cluster:\n  url: redis://%s\n  name: %s\n  max_pending: 256MiB\n", addr, redisAddr, name)
		dir := filepath.Join(s.dir, "cluster-"+name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		cfgFile := filepath.Join(dir, "broker.yaml")
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		mt := exec.Command(filepath.Join(s.dir, "broker"), "--config", cfgFile, "--data-dir", filepath.Join(dir, "data"),
			"--log-level", "warn", "--log-format", "json")
		mt.Stderr = os.Stderr
		if err := s.start(mt); err != nil {
			return nil, err
		}
		cs.mtTCP = append(cs.mtTCP, addr)
	}
	routes := []string{freeTCPPort(), freeTCPPort(), freeTCPPort()}
	for i := range 3 {
		addr := freeTCPPort()
		var urls []string
		for j, r := range routes {
			if j != i {
				urls = append(urls, "nats-route://"+r)
			}
		}
		cfg := fmt.Sprintf("listen: %q\nmax_pending: 1073741824\ncluster {\n  name: bench\n  listen: %q\n  routes: [%s]\n}\n",
			addr, routes[i], strings.Join(urls, ", "))
		cfgFile := filepath.Join(s.dir, fmt.Sprintf("nats-%d.conf", i+1))
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		if err := s.start(exec.Command(natsBin, "-c", cfgFile)); err != nil {
			return nil, err
		}
		cs.natsTCP = append(cs.natsTCP, addr)
	}
	return cs, nil
}

// roundRobin dials each of dials in turn.
func roundRobin(dials []func() (client, error)) func() (client, error) {
	var next atomic.Uint64
	return func() (client, error) {
		return dials[(next.Add(1)-1)%uint64(len(dials))]()
	}
}

// clusterSystems are the two three-node systems the cluster rows compare.
func clusterSystems(cs *clusterServers) []system {
	var mt, nt []func() (client, error)
	for i := range 3 {
		mt = append(mt, dialMsgtrans("tcp://"+cs.mtTCP[i]))
		nt = append(nt, dialNATS("nats://"+cs.natsTCP[i]))
	}
	return []system{
		{name: "msgtrans", transport: "cluster", dial: roundRobin(mt), settle: clusterSettle},
		{name: "nats-server", transport: "cluster", dial: roundRobin(nt), settle: clusterSettle},
	}
}
