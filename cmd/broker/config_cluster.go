package main

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/cluster"
)

// ClusterConfig links this broker to others over Redis (docs/cluster.md).
// An empty URL is a single node, and no Redis is needed.
type ClusterConfig struct {
	URL         string        `yaml:"url"`          // redis://, rediss://, unix://, or Sentinel (master_name=); see cluster.ParseURL
	Name        string        `yaml:"name"`         // this node's name; empty: the server id
	Prefix      string        `yaml:"prefix"`       // namespace of the keys and channels in Redis
	NodeTimeout time.Duration `yaml:"node_timeout"` // a node unheard this long is dropped
	MaxPending  Size          `yaml:"max_pending"`  // bytes queued per other node before drops
}

func defaultClusterConfig() ClusterConfig {
	return ClusterConfig{
		Prefix:      cluster.DefaultPrefix,
		NodeTimeout: cluster.DefaultNodeTimeout,
		MaxPending:  cluster.DefaultMaxPending,
	}
}

// validate checks the cluster keys, and how they sit with the others.
func (c *ClusterConfig) validate(cfg *Config, bad func(key, format string, a ...any)) {
	if c.URL != "" {
		if _, err := cluster.ParseURL(c.URL); err != nil {
			bad("cluster.url", "%v", err)
		}
		if cfg.Retained.Store == "memory" {
			bad("retained.store", "memory keeps each node's retained messages apart; with cluster.url they are kept in Redis for all nodes (leave retained.store unset)")
		}
	}
	if c.Name != "" {
		if err := cluster.ValidateName(c.Name); err != nil {
			bad("cluster.name", "%v", err)
		}
	}
	if c.Prefix == "" || strings.ContainsAny(c.Prefix, " \t\r\n") {
		bad("cluster.prefix", "%q must be a non-empty word", c.Prefix)
	}
	if c.NodeTimeout < 100*time.Millisecond {
		bad("cluster.node_timeout", "%v is under 100ms", c.NodeTimeout)
	}
	if c.MaxPending < Size(cfg.Limits.MaxPayload) {
		bad("cluster.max_pending", "%d is below limits.max_payload %d", c.MaxPending, cfg.Limits.MaxPayload)
	}
}

// clusterLink is the running backplane of a clustered service.
type clusterLink struct {
	rdb    *redis.Client
	bp     *cluster.Backplane
	store  *cluster.Store // the retained store in Redis
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// openClusterStore connects to the cluster's Redis (lazily: go-redis
// dials on first use) and returns the shared retained store, or nil, nil
// when the service is a single node.
func openClusterStore(cfg Config) (*redis.Client, broker.RetainedStore, error) {
	c := cfg.Cluster
	if c.URL == "" {
		return nil, nil, nil
	}
	newClient, err := cluster.ParseURL(c.URL)
	if err != nil {
		return nil, nil, err
	}
	rdb := newClient()
	return rdb, cluster.NewStore(rdb, c.Prefix, cfg.Retained.MaxMessages, int(cfg.Retained.MaxBytes), c.NodeTimeout), nil
}

// redisLog puts go-redis's own messages (dial retries) in the broker's log
// at debug level: the backplane's events already say what matters.
type redisLog struct{ log zerolog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug().Msgf(format, v...)
}

// startCluster runs the backplane for b until stop.
func startCluster(cfg Config, rdb *redis.Client, b *broker.Broker, log zerolog.Logger) (*clusterLink, error) {
	c := cfg.Cluster
	redis.SetLogger(redisLog{log.With().Str("component", "go-redis").Logger()})
	name := c.Name
	if name == "" {
		name = b.ID()
	}
	log = log.With().Str("cluster", name).Logger()
	bp, err := cluster.New(b, rdb, cluster.Options{
		Name:        name,
		Prefix:      c.Prefix,
		NodeTimeout: c.NodeTimeout,
		MaxPending:  int(c.MaxPending),
		OnEvent:     func(e cluster.Event) { logClusterEvent(log, e) },
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	store, _ := b.Options().Retained.(*cluster.Store)
	l := &clusterLink{rdb: rdb, bp: bp, store: store, cancel: cancel}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		bp.Run(ctx)
	}()
	log.Info().Str("redis", cluster.RedactURL(c.URL)).Dur("node_timeout", c.NodeTimeout).Msg("clustering over redis")
	return l, nil
}

// stop flushes what waits to be forwarded, leaves the cluster and closes
// the Redis client. It runs after the broker's drain, before its Close.
func (l *clusterLink) stop() {
	if l == nil {
		return
	}
	l.cancel()
	l.wg.Wait()
}

func logClusterEvent(log zerolog.Logger, e cluster.Event) {
	switch e.Kind {
	case cluster.LinkUp:
		log.Info().Msg("cluster: linked to redis, interest synchronized")
	case cluster.LinkDown:
		log.Warn().Err(e.Err).Msg("cluster: lost redis; serving local clients alone, reconnecting")
	case cluster.NodeUp:
		log.Info().Str("node", e.Node).Msg("cluster: node joined")
	case cluster.NodeDown:
		log.Info().Str("node", e.Node).AnErr("reason", e.Err).Msg("cluster: node left")
	case cluster.NameClash:
		log.Error().Err(e.Err).Msg("cluster: two nodes use one cluster.name; give each its own")
	}
}

// Err is the cluster link's health, for /healthz: nil when the broker is a
// single node or linked to Redis, otherwise why it is serving alone. It may
// be called on a nil *clusterLink.
func (l *clusterLink) Err() error {
	if l == nil {
		return nil
	}
	return l.bp.Err()
}

// Stats are the backplane's counters, for /varz and metrics, and how
// many subscriptions got no retained replay because Redis was unreachable;
// ok is false for a single node. It may be called on a nil *clusterLink.
func (l *clusterLink) Stats() (st cluster.Stats, replaysSkipped uint64, ok bool) {
	if l == nil {
		return cluster.Stats{}, 0, false
	}
	if l.store != nil {
		replaysSkipped = l.store.ReplaysSkipped()
	}
	return l.bp.Stats(), replaysSkipped, true
}
