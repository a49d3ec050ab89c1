package cluster_test

import (
	"context"
	"log"
	"time"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/cluster"
)

// A broker embedded in a program joins a cluster: the retained store and
// the backplane share one Redis client, and Run links the broker until
// ctx ends. (Compiled, not run: it needs a Redis.)
func Example() {
	newClient, err := cluster.ParseURL("redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	rdb := newClient()
	defer rdb.Close()
	b, err := broker.New(broker.Options{
		Retained: cluster.NewStore(rdb, cluster.DefaultPrefix, 0, 0, cluster.DefaultNodeTimeout),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	bp, err := cluster.New(b, rdb, cluster.Options{Name: "node-1"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		bp.Run(ctx) // returns once it has flushed and left the cluster
	}()
	// ... adapters serve clients of b; bp.Err() is the link's health.
	<-done
}
