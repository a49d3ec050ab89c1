package monitor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/msgtrans/msgtrans/broker"
)

// AckTimer is a retained store that times acknowledged publishes: from
// the broker handing the message to the store to the store calling back
// once it is durable. That is the wait a publisher with an ack sees
// beyond routing. Other calls pass straight through.
type AckTimer struct {
	broker.RetainedStore
	hist prometheus.Histogram
}

// TimeAcks wraps store; register the returned timer as a collector
// (Options.Metrics) to export msgtrans_retained_ack_duration_seconds.
func TimeAcks(store broker.RetainedStore) *AckTimer {
	return &AckTimer{
		RetainedStore: store,
		hist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "msgtrans_retained_ack_duration_seconds",
			Help: "Time from an acknowledged retained publish reaching the store to the store confirming it durable (or failed).",
			// 50µs (memory) to ~3s (a slow disk under fsync).
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 13),
		}),
	}
}

// Set implements broker.RetainedStore.
func (t *AckTimer) Set(m broker.RetainedMessage, done func(error)) error {
	if done == nil {
		return t.RetainedStore.Set(m, nil)
	}
	start := time.Now()
	return t.RetainedStore.Set(m, func(err error) {
		t.hist.Observe(time.Since(start).Seconds())
		done(err)
	})
}

// Bytes implements broker.RetainedSizer when the wrapped store does, and
// says -1 otherwise.
func (t *AckTimer) Bytes() int {
	if s, ok := t.RetainedStore.(broker.RetainedSizer); ok {
		return s.Bytes()
	}
	return -1
}

// Health reports the wrapped store's health, if it reports one.
func (t *AckTimer) Health() error {
	if h, ok := t.RetainedStore.(interface{ Health() error }); ok {
		return h.Health()
	}
	return nil
}

// Describe implements prometheus.Collector.
func (t *AckTimer) Describe(ch chan<- *prometheus.Desc) { t.hist.Describe(ch) }

// Collect implements prometheus.Collector.
func (t *AckTimer) Collect(ch chan<- prometheus.Metric) { t.hist.Collect(ch) }
