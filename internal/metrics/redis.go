package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionauth/authd/internal/redispool"
)

// RegisterPool exports the statistics of the Redis connection pools (one,
// or one per cluster primary, summed), read at each scrape. Call it at
// most once per Metrics: a second pool would duplicate the metric names,
// and registering it panics.
func (m *Metrics) RegisterPool(p redispool.Source) {
	if m == nil || p == nil {
		return
	}
	m.reg.MustRegister(newPoolCollector(p))
}

// poolCollector reads the pool's statistics once per scrape, under one lock,
// so the gauges of a scrape agree with each other (in use plus idle is
// always open), which separate GaugeFuncs would not guarantee.
type poolCollector struct {
	pool redispool.Source

	active, idle, inUse, maxActive, waits, waitSeconds *prometheus.Desc
}

func newPoolCollector(p redispool.Source) *poolCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("authd_redis_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		pool:        p,
		active:      desc("active_connections", "Connections open in the Redis pool, in use or idle (redigo's ActiveCount)."),
		idle:        desc("idle_connections", "Open Redis connections waiting in the pool for a request."),
		inUse:       desc("in_use_connections", "Redis connections taken from the pool by a request (active minus idle)."),
		maxActive:   desc("max_active_connections", "Most connections the pool opens at once (0: no limit)."),
		waits:       desc("waits_total", "Times a request waited for a free Redis connection."),
		waitSeconds: desc("wait_duration_seconds_total", "Time requests spent waiting for a free Redis connection."),
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.active, c.idle, c.inUse, c.maxActive, c.waits, c.waitSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.active, float64(s.ActiveCount))
	gauge(c.idle, float64(s.IdleCount))
	gauge(c.inUse, float64(s.ActiveCount-s.IdleCount))
	gauge(c.maxActive, float64(c.pool.MaxActive()))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(c.waitSeconds, prometheus.CounterValue, s.WaitDuration.Seconds())
}
