// Package metrics exposes the server's Prometheus metrics: HTTP requests by
// route and status, request latency, sign-ins by outcome, throttled attempts,
// store errors and the Redis pool. Everything lives on a registry owned by one
// Metrics value, never on the client library's global default registry, so
// tests and several servers in one process do not collide.
package metrics

import (
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// other replaces a label value outside a metric's known set, so a typo or a
// new value in the server cannot grow the number of series without bound.
const other = "other"

// The label values each counter knows. They are created at zero so that
// dashboards and rate() see every series before its first event.
var (
	signInOutcomes = []string{"success", "failure", "throttled", "unavailable"}
	throttleScopes = []string{"account", "address", "signup"}
	stores         = []string{"redis", "sql"}
	storeOps       = []string{"read", "write", "delete"}
)

// Metrics holds the server's collectors and the registry they are served
// from. A nil *Metrics is valid: every method does nothing, and Middleware
// returns its handler unchanged, so servers and tests can run without metrics.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	signIns     *prometheus.CounterVec
	throttled   *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
	ackMissed   *prometheus.CounterVec
}

// New returns Metrics on a new registry that also carries the Go runtime and
// process collectors (memory, goroutines, GC, CPU, open files).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_http_requests_total",
			Help: "HTTP requests served, by chi route pattern (\"unmatched\" when no route matched), method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authd_http_request_duration_seconds",
			Help: "Time to serve an HTTP request, by chi route pattern and method.",
			// 100µs (static files, health checks) to 10s (requests stuck
			// behind a stalled Redis); the middle resolves bcrypt's ~250ms.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_signins_total",
			Help: "Sign-in attempts by outcome: success, failure, throttled, unavailable.",
		}, []string{"outcome"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_throttled_total",
			Help: "Attempts refused by a rate limit, by scope: account, address, signup.",
		}, []string{"scope"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_store_errors_total",
			Help: "Failed store operations, by store (redis, sql) and operation (read, write, delete).",
		}, []string{"store", "op"}),
		ackMissed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_session_replica_ack_missed_total",
			Help: "Writes that ended sessions (op: sign_out, sign_in, revoke, revoke_others, revoke_all) that no Redis replica acknowledged within REDIS_REPLICA_ACK_TIMEOUT: a failover in that window could bring the sessions back.",
		}, []string{"op"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.signIns, m.throttled, m.storeErrors, m.ackMissed,
	)
	for _, op := range ackOps {
		m.ackMissed.WithLabelValues(op)
	}
	for _, o := range signInOutcomes {
		m.signIns.WithLabelValues(o)
	}
	for _, s := range throttleScopes {
		m.throttled.WithLabelValues(s)
	}
	for _, s := range stores {
		for _, op := range storeOps {
			m.storeErrors.WithLabelValues(s, op)
		}
	}
	return m
}

// Handler serves the registry in the Prometheus text format. A collector
// that fails does not blank the scrape: the rest is served and the failure
// is counted in promhttp_metric_handler_errors_total. On a nil *Metrics it
// answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
		// Gathering is cheap, but a burst of scrapes should not pile up.
		MaxRequestsInFlight: 4,
	})
}

// SignIn counts a sign-in attempt with its outcome: "success", "failure"
// (wrong name or password), "throttled" or "unavailable" (a store failed).
// Other values are counted as "other".
func (m *Metrics) SignIn(outcome string) {
	if m == nil {
		return
	}
	m.signIns.WithLabelValues(known(outcome, signInOutcomes)).Inc()
}

// Throttled counts an attempt refused by a rate limit on scope: "account",
// "address" or "signup". Other values are counted as "other".
func (m *Metrics) Throttled(scope string) {
	if m == nil {
		return
	}
	m.throttled.WithLabelValues(known(scope, throttleScopes)).Inc()
}

// StoreError counts a failed operation on store ("redis" or "sql"); op is
// "read", "write" or "delete". Values outside those sets are counted as
// "other".
func (m *Metrics) StoreError(store, op string) {
	if m == nil {
		return
	}
	m.storeErrors.WithLabelValues(known(store, stores), known(op, storeOps)).Inc()
}

// ackOps are the operations ReplicaAckMissed counts.
var ackOps = []string{"sign_out", "sign_in", "revoke", "revoke_others", "revoke_all"}

// ReplicaAckMissed counts a write that ended sessions and that no replica
// acknowledged in time (session.Config.OnReplicaAckMissed). Values outside
// ackOps are counted as "other".
func (m *Metrics) ReplicaAckMissed(op string) {
	if m == nil {
		return
	}
	m.ackMissed.WithLabelValues(known(op, ackOps)).Inc()
}

// known returns v if it is one of values, else "other".
func known(v string, values []string) string {
	if slices.Contains(values, v) {
		return v
	}
	return other
}
