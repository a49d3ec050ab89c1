package monitor

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Collector is a Prometheus collector (prometheus.Collector), for
// Options.Metrics.
type Collector = prometheus.Collector

// brokerCollector reads the broker's own counters at scrape time: the
// publish and delivery paths increment nothing of Prometheus.
type brokerCollector struct {
	s *Server

	info, msgsIn, bytesIn, msgsOut, bytesOut, opened *prometheus.Desc
	slow, authFail, denied, restarts                 *prometheus.Desc
	conns, subs, retained, retainedBytes, pending    *prometheus.Desc
	pluginUp                                         *prometheus.Desc
}

func newBrokerCollector(s *Server) *brokerCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("msgtrans_"+name, help, labels, nil)
	}
	return &brokerCollector{
		s:             s,
		info:          d("info", "The broker's version and server id; always 1.", "version", "server_id"),
		msgsIn:        d("received_messages_total", "Messages published by clients, by protocol.", "protocol"),
		bytesIn:       d("received_bytes_total", "Payload bytes published by clients, by protocol.", "protocol"),
		msgsOut:       d("sent_messages_total", "Messages delivered to clients, by protocol.", "protocol"),
		bytesOut:      d("sent_bytes_total", "Payload bytes delivered to clients, by protocol.", "protocol"),
		opened:        d("connections_opened_total", "Sessions opened, by protocol.", "protocol"),
		slow:          d("slow_consumers_total", "Sessions closed because more than limits.max_pending bytes waited for them."),
		authFail:      d("auth_failures_total", "Clients whose credentials were refused."),
		denied:        d("permission_denials_total", "Publishes and subscriptions refused by a session's permissions."),
		restarts:      d("plugin_restarts_total", "Restarts of a plugin after it crashed.", "plugin"),
		conns:         d("connections", "Sessions open now, by protocol.", "protocol"),
		subs:          d("subscriptions", "Subscriptions now, over all sessions."),
		retained:      d("retained_messages", "Retained messages stored."),
		retainedBytes: d("retained_bytes", "Bytes of the retained messages (topic, header, payload)."),
		pending:       d("pending_bytes", "Bytes waiting to be written to clients, over all sessions."),
		pluginUp:      d("plugin_up", "1 while a plugin runs, 0 otherwise.", "plugin"),
	}
}

// Describe implements prometheus.Collector.
func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.info, c.msgsIn, c.bytesIn, c.msgsOut, c.bytesOut, c.opened, c.slow, c.authFail, c.denied,
		c.restarts, c.conns, c.subs, c.retained, c.retainedBytes, c.pending, c.pluginUp,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.b.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.info, 1, s.opts.Version, s.b.ID())
	for p, ps := range st.ByProtocol {
		counter(c.msgsIn, float64(ps.MsgsIn), p)
		counter(c.bytesIn, float64(ps.BytesIn), p)
		counter(c.msgsOut, float64(ps.MsgsOut), p)
		counter(c.bytesOut, float64(ps.BytesOut), p)
		counter(c.opened, float64(ps.TotalConnections), p)
		gauge(c.conns, float64(ps.Connections), p)
	}
	counter(c.slow, float64(st.SlowConsumers))
	counter(c.authFail, float64(st.AuthFailures))
	counter(c.denied, float64(st.PermissionDenials))
	gauge(c.subs, float64(st.Subscriptions))
	gauge(c.retained, float64(st.Retained))
	if st.RetainedBytes >= 0 {
		gauge(c.retainedBytes, float64(st.RetainedBytes))
	}
	gauge(c.pending, float64(s.pendingBytes()))
	for _, p := range s.opts.Plugins {
		ps := p.State()
		counter(c.restarts, float64(ps.Restarts), ps.Name)
		up := 0.0
		if ps.State == "running" {
			up = 1
		}
		gauge(c.pluginUp, up, ps.Name)
	}
}

// metricsHandler serves the broker's metrics, the Go runtime's and the
// process's, and Options.Metrics.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newBrokerCollector(s),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, c := range s.opts.Metrics {
		reg.MustRegister(c)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
