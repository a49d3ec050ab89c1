package main

import (
	"github.com/prometheus/client_golang/prometheus"
)

// clusterCollector exports the backplane's counters to /metrics, read at
// scrape time like the broker's own.
type clusterCollector struct{ l *clusterLink }

var (
	clusterUp = prometheus.NewDesc("msgtrans_cluster_up",
		"1 while this node is linked to the cluster's Redis.", nil, nil)
	clusterNodes = prometheus.NewDesc("msgtrans_cluster_nodes",
		"Other nodes alive, as this node knows them.", nil, nil)
	clusterMsgs = prometheus.NewDesc("msgtrans_cluster_messages_total",
		"Messages forwarded to other nodes (out, once they reached Redis) and received from them (in).", []string{"direction"}, nil)
	clusterBytes = prometheus.NewDesc("msgtrans_cluster_bytes_total",
		"Encoded bytes of those messages.", []string{"direction"}, nil)
	clusterBatches = prometheus.NewDesc("msgtrans_cluster_batches_total",
		"PUBLISH commands that carried them.", []string{"direction"}, nil)
	clusterDropped = prometheus.NewDesc("msgtrans_cluster_dropped_messages_total",
		"Messages for another node that were not forwarded (its queue full, or Redis refused or did not answer).", nil, nil)
	clusterBadFrames = prometheus.NewDesc("msgtrans_cluster_bad_frames_total",
		"Undecodable batches, records or control messages received.", nil, nil)
	clusterReconnects = prometheus.NewDesc("msgtrans_cluster_reconnects_total",
		"Times the link to Redis was set up again after a loss.", nil, nil)
	clusterLag = prometheus.NewDesc("msgtrans_cluster_lag_seconds",
		"Age of the last batch received, from when its first message was queued on its origin node.", nil, nil)
	clusterReplaysSkipped = prometheus.NewDesc("msgtrans_cluster_retained_replays_skipped_total",
		"New subscriptions that went live without their retained messages because Redis was unreachable.", nil, nil)
)

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clusterUp, clusterNodes, clusterMsgs, clusterBytes, clusterBatches,
		clusterDropped, clusterBadFrames, clusterReconnects, clusterLag, clusterReplaysSkipped} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st, skipped, ok := c.l.Stats()
	if !ok {
		return
	}
	up := 0.0
	if st.Up {
		up = 1
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(clusterUp, up)
	gauge(clusterNodes, float64(st.Nodes))
	counter(clusterMsgs, st.MsgsOut, "out")
	counter(clusterMsgs, st.MsgsIn, "in")
	counter(clusterBytes, st.BytesOut, "out")
	counter(clusterBytes, st.BytesIn, "in")
	counter(clusterBatches, st.BatchesOut, "out")
	counter(clusterBatches, st.BatchesIn, "in")
	counter(clusterDropped, st.Dropped)
	counter(clusterBadFrames, st.BadFrames)
	counter(clusterReconnects, st.Reconnects)
	gauge(clusterLag, st.Lag.Seconds())
	counter(clusterReplaysSkipped, skipped)
}
