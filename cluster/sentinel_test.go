package cluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/msgtrans/msgtrans/internal/testproc"
)

// Two nodes reach their Redis through Sentinel; the primary is killed,
// Sentinel promotes the replica, and the nodes follow it without a
// restart: messages and retained messages flow again.
func TestSentinelFailover(t *testing.T) {
	primary := startRedis(t)
	_, pport, _ := net.SplitHostPort(primary.addr)
	replica := startRedis(t, "--replicaof", "127.0.0.1", pport)
	waitFor(t, "the replica to sync", func() bool {
		info, _ := replica.client(t).Info(t.Context(), "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})

	dir := t.TempDir()
	saddr := testproc.FreePort(t)
	_, sport, _ := net.SplitHostPort(saddr)
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %s 1\n"+
		"sentinel down-after-milliseconds mymaster 500\nsentinel failover-timeout mymaster 2000\n", sport, dir, pport)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	sp := testproc.Start(t, testproc.Need(t, "redis-server"), conf, "--sentinel")
	sp.WaitTCP(saddr, 10*time.Second)
	sc := redis.NewSentinelClient(&redis.Options{Addr: saddr})
	defer sc.Close()
	waitFor(t, "sentinel to know the replica", func() bool {
		rs, err := sc.Replicas(t.Context(), "mymaster").Result()
		return err == nil && len(rs) == 1 && !strings.Contains(fmt.Sprint(rs[0]), "disconnected")
	})

	newClient, err := ParseURL("redis://" + saddr + "/0?master_name=mymaster")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{NodeTimeout: time.Second}
	a := startNodeOn(t, newClient(), "a", opts)
	b := startNodeOn(t, newClient(), "b", opts)
	got := &collector{}
	client(t, b.b, "sub").Subscribe("x", got.cb)
	waitFor(t, "a to learn b's interest", func() bool { return a.bp.peers.interestOf("b") == 1 })
	pub := client(t, a.b, "pub")
	pub.Publish("x", []byte("before"))
	waitFor(t, "the first message", func() bool { return got.len() == 1 })

	primary.proc.Kill()
	waitFor(t, "sentinel to promote the replica", func() bool {
		info, _ := replica.client(t).Info(t.Context(), "replication").Result()
		return strings.Contains(info, "role:master")
	})
	// The nodes find the new primary, announce again and resync: a
	// publish on a reaches b again.
	deadline := time.Now().Add(30 * time.Second)
	for got.len() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no message across nodes after the failover (a: %v, b: %v)", a.bp.Err(), b.bp.Err())
		}
		pub.Publish("x", []byte("after"))
		time.Sleep(50 * time.Millisecond)
	}
	s := NewStore(newClient(), "", 0, 0, time.Second)
	if err := set(t, s, "r", "v", time.Time{}); err != nil {
		t.Fatalf("retained set on the new primary: %v", err)
	}
	if n, _ := replica.client(t).HExists(t.Context(), "msgtrans:retained", "r").Result(); !n {
		t.Fatal("the retained message is not on the promoted replica")
	}
}
