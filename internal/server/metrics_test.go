package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The server feeds /metrics: requests by route pattern and status, sign-ins
// by outcome, throttling, the Redis pool, store errors.
func TestMetrics(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.limits = Limits{AccountFailures: 1} })
	ts.addUser(t, "alice", "password one")
	ts.addUser(t, "bob", "password two")
	wantStatus(t, ts.client(t).login("alice", "password one"), http.StatusSeeOther)
	wantStatus(t, ts.client(t).login("bob", "wrong"), http.StatusUnauthorized)
	wantStatus(t, ts.client(t).login("bob", "wrong"), http.StatusTooManyRequests)
	c := ts.client(t)
	for _, id := range []string{"a", "b", "c"} {
		wantStatus(t, c.postForm("/api/sessions/"+id+"/revoke", nil), http.StatusUnauthorized)
	}
	ts.redis.Stop(t)
	wantStatus(t, ts.client(t).login("alice", "password one"), http.StatusServiceUnavailable)

	// Not on the main router: anyone could watch the sign-in counters.
	wantStatus(t, ts.client(t).get("/metrics"), http.StatusNotFound)
	rec := httptest.NewRecorder()
	ts.metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	scrape := rec.Body.String()
	for _, want := range []string{
		`authd_signins_total{outcome="success"} 1`,
		`authd_signins_total{outcome="failure"} 1`,
		`authd_signins_total{outcome="throttled"} 1`,
		`authd_signins_total{outcome="unavailable"} 1`,
		`authd_throttled_total{scope="account"} 1`,
		`authd_store_errors_total{op="write",store="redis"} 1`,
		`authd_http_requests_total{code="401",method="POST",route="/api/sessions/{id}/revoke"} 3`,
		`authd_http_requests_total{code="303",method="POST",route="/login"} 1`,
		`authd_http_request_duration_seconds_count{method="POST",route="/login"} 4`,
		`authd_redis_pool_active_connections`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", scrape)
	}
}
