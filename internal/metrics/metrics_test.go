package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gomodule/redigo/redis"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sessionauth/authd/internal/metrics"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/testenv"
)

// scrape fetches m's Handler and parses the text it serves.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// find returns the one series of family name whose labels are exactly want.
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric family %s in the scrape", name)
	}
	for _, m := range f.GetMetric() {
		if labelsOf(m) == labelString(want) {
			return m
		}
	}
	t.Fatalf("%s has no series %v; it has %v", name, want, seriesOf(f))
	return nil
}

func labelsOf(m *dto.Metric) string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return labelString(l)
}

func labelString(l map[string]string) string {
	return model.LabelSet(toLabelSet(l)).String()
}

func toLabelSet(l map[string]string) model.LabelSet {
	s := model.LabelSet{}
	for k, v := range l {
		s[model.LabelName(k)] = model.LabelValue(v)
	}
	return s
}

func seriesOf(f *dto.MetricFamily) []string {
	var s []string
	for _, m := range f.GetMetric() {
		s = append(s, labelsOf(m))
	}
	return s
}

// counter is the value of the counter or gauge series name{want}.
func counter(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	m := find(t, fams, name, want)
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, want)
	return 0
}

func req(route, method, code string) map[string]string {
	return map[string]string{"route": route, "method": method, "code": code}
}

// testRouter is a chi router instrumented the way the server is: the
// middleware first, a nested route, handlers that do and do not call
// WriteHeader.
func testRouter(m *metrics.Metrics) http.Handler {
	r := chi.NewRouter()
	r.Use(m.Middleware)
	r.Get("/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if chi.URLParam(r, "id") == "missing" {
			http.Error(w, "no such user", http.StatusNotFound)
			return
		}
		io.WriteString(w, "a user") // no WriteHeader: net/http sends 200
	})
	r.Get("/empty", func(http.ResponseWriter, *http.Request) {}) // writes nothing at all
	r.Route("/api", func(r chi.Router) {
		r.Post("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
		})
	})
	r.Get("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	r.Get("/stream", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			http.Error(w, "writer lost http.Flusher", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "first ")
		if err := http.NewResponseController(w).Flush(); err != nil {
			http.Error(w, "ResponseController.Flush: "+err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "second")
	})
	return r
}

func serve(t *testing.T, h http.Handler, method, target string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Code
}

func TestMiddlewareLabelsByRoutePattern(t *testing.T) {
	m := metrics.New()
	h := testRouter(m)
	requests := []struct {
		method, target string
		code           int
	}{
		{"GET", "/users/1", 200},
		{"GET", "/users/2", 200},
		{"GET", "/users/" + strings.Repeat("x", 500), 200},
		{"GET", "/users/missing", 404},
		{"GET", "/empty", 200},
		{"POST", "/api/items/7", 201},
		{"POST", "/api/items/8", 201},
		{"GET", "/nope", 404},
		{"GET", "/nope/deeper/still", 404},
		{"GET", "/users/1/extra", 404},
		{"POST", "/users/1", 405},
		{"BREW", "/users/1", 405},
	}
	for _, r := range requests {
		if got := serve(t, h, r.method, r.target); got != r.code {
			t.Fatalf("%s %s: status %d, want %d", r.method, r.target, got, r.code)
		}
	}

	fams := scrape(t, m)
	want := []struct {
		labels map[string]string
		n      float64
	}{
		{req("/users/{id}", "GET", "200"), 3},
		{req("/users/{id}", "GET", "404"), 1},
		{req("/empty", "GET", "200"), 1},
		{req("/api/items/{id}", "POST", "201"), 2},
		{req("unmatched", "GET", "404"), 3},
		{req("unmatched", "POST", "405"), 1},
		{req("unmatched", "other", "405"), 1},
	}
	for _, w := range want {
		if got := counter(t, fams, "authd_http_requests_total", w.labels); got != w.n {
			t.Errorf("authd_http_requests_total%v = %v, want %v", w.labels, got, w.n)
		}
	}
	// Exactly these series: no path or made-up method became a label.
	if got := seriesOf(fams["authd_http_requests_total"]); len(got) != len(want) {
		t.Errorf("authd_http_requests_total has %d series, want %d: %v", len(got), len(want), got)
	}

	hist := []struct {
		route, method string
		n             uint64
	}{
		{"/users/{id}", "GET", 4},
		{"/api/items/{id}", "POST", 2},
		{"unmatched", "GET", 3},
	}
	for _, w := range hist {
		h := find(t, fams, "authd_http_request_duration_seconds",
			map[string]string{"route": w.route, "method": w.method}).GetHistogram()
		if h.GetSampleCount() != w.n {
			t.Errorf("duration{%s %s} count = %d, want %d", w.route, w.method, h.GetSampleCount(), w.n)
		}
		if h.GetSampleSum() <= 0 || h.GetSampleSum() > 10 {
			t.Errorf("duration{%s %s} sum = %v s, want a small positive time", w.route, w.method, h.GetSampleSum())
		}
		// The text parser keeps the +Inf bucket: 16 bounds plus +Inf.
		if b := h.GetBucket(); len(b) != 17 || b[0].GetUpperBound() != 0.0001 || b[15].GetUpperBound() != 10 {
			t.Errorf("duration buckets = %v, want 16 from 100µs to 10s, then +Inf", b)
		}
	}
	if n := len(fams["authd_http_request_duration_seconds"].GetMetric()); n != 6 {
		t.Errorf("duration has %d series, want 6 (one per route and method)", n)
	}
}

func TestMiddlewareCountsAbortedRequestAs500(t *testing.T) {
	m := metrics.New()
	h := testRouter(m)
	func() {
		defer func() {
			if rec := recover(); rec != http.ErrAbortHandler {
				t.Errorf("panic = %v, want http.ErrAbortHandler passed through", rec)
			}
		}()
		serve(t, h, "GET", "/abort")
	}()
	if got := counter(t, scrape(t, m), "authd_http_requests_total", req("/abort", "GET", "500")); got != 1 {
		t.Errorf("aborted requests counted %v, want 1", got)
	}
}

// Through a real server, the wrapped writer still flushes, both by type
// assertion and through http.ResponseController (which needs Unwrap).
func TestMiddlewareKeepsFlusher(t *testing.T) {
	m := metrics.New()
	srv := httptest.NewServer(testRouter(m))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "first second" {
		t.Fatalf("GET /stream: %d %q", res.StatusCode, body)
	}
	if got := counter(t, scrape(t, m), "authd_http_requests_total", req("/stream", "GET", "200")); got != 1 {
		t.Errorf("stream requests counted %v, want 1", got)
	}
}

func TestCountersStartAtZeroAndCount(t *testing.T) {
	m := metrics.New()
	fams := scrape(t, m)
	for _, o := range []string{"success", "failure", "throttled", "unavailable"} {
		if got := counter(t, fams, "authd_signins_total", map[string]string{"outcome": o}); got != 0 {
			t.Errorf("signins{%s} = %v before any sign-in", o, got)
		}
	}
	for _, s := range []string{"account", "address", "signup"} {
		if got := counter(t, fams, "authd_throttled_total", map[string]string{"scope": s}); got != 0 {
			t.Errorf("throttled{%s} = %v before any event", s, got)
		}
	}
	for _, s := range []string{"redis", "sql"} {
		for _, op := range []string{"read", "write", "delete"} {
			if got := counter(t, fams, "authd_store_errors_total", map[string]string{"store": s, "op": op}); got != 0 {
				t.Errorf("store_errors{%s %s} = %v before any error", s, op, got)
			}
		}
	}

	m.SignIn("success")
	m.SignIn("success")
	m.SignIn("failure")
	m.SignIn("<script>") // unknown: counted, but under a bounded label
	m.Throttled("address")
	m.StoreError("redis", "write")
	m.StoreError("sql", "read")
	m.StoreError("sql", "read")
	m.StoreError("mongo", "drop")

	fams = scrape(t, m)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"authd_signins_total", map[string]string{"outcome": "success"}, 2},
		{"authd_signins_total", map[string]string{"outcome": "failure"}, 1},
		{"authd_signins_total", map[string]string{"outcome": "throttled"}, 0},
		{"authd_signins_total", map[string]string{"outcome": "other"}, 1},
		{"authd_throttled_total", map[string]string{"scope": "address"}, 1},
		{"authd_throttled_total", map[string]string{"scope": "account"}, 0},
		{"authd_store_errors_total", map[string]string{"store": "redis", "op": "write"}, 1},
		{"authd_store_errors_total", map[string]string{"store": "sql", "op": "read"}, 2},
		{"authd_store_errors_total", map[string]string{"store": "other", "op": "other"}, 1},
	}
	for _, c := range checks {
		if got := counter(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(fams["authd_signins_total"].GetMetric()); n != 5 {
		t.Errorf("signins has %d series, want 5: %v", n, seriesOf(fams["authd_signins_total"]))
	}
}

func TestRedisPoolGauges(t *testing.T) {
	r := testenv.StartRedis(t)
	p := r.Pool(t) // MaxIdle 4, MaxActive 32
	m := metrics.New()
	m.RegisterPool(redispool.Single(p))

	pool := func() (active, idle, inUse float64) {
		t.Helper()
		fams := scrape(t, m)
		return counter(t, fams, "authd_redis_pool_active_connections", nil),
			counter(t, fams, "authd_redis_pool_idle_connections", nil),
			counter(t, fams, "authd_redis_pool_in_use_connections", nil)
	}
	if a, i, u := pool(); a != 0 || i != 0 || u != 0 {
		t.Fatalf("fresh pool: active %v idle %v in use %v, want 0 0 0", a, i, u)
	}
	if got := counter(t, scrape(t, m), "authd_redis_pool_max_active_connections", nil); got != 32 {
		t.Errorf("max active = %v, want 32", got)
	}

	c1, c2 := p.Get(), p.Get()
	for _, c := range []redis.Conn{c1, c2} {
		if _, err := c.Do("PING"); err != nil {
			t.Fatal(err)
		}
	}
	if a, i, u := pool(); a != 2 || i != 0 || u != 2 {
		t.Errorf("two taken: active %v idle %v in use %v, want 2 0 2", a, i, u)
	}
	c1.Close()
	if a, i, u := pool(); a != 2 || i != 1 || u != 1 {
		t.Errorf("one returned: active %v idle %v in use %v, want 2 1 1", a, i, u)
	}
	c2.Close()
	if a, i, u := pool(); a != 2 || i != 2 || u != 0 {
		t.Errorf("both returned: active %v idle %v in use %v, want 2 2 0", a, i, u)
	}
}

func TestRedisPoolWaits(t *testing.T) {
	r := testenv.StartRedis(t)
	p := &redis.Pool{
		MaxActive: 1,
		Wait:      true,
		Dial:      func() (redis.Conn, error) { return redis.Dial("tcp", r.Addr) },
	}
	defer p.Close()
	m := metrics.New()
	m.RegisterPool(redispool.Single(p))

	held := p.Get()
	if _, err := held.Do("PING"); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		c, err := p.GetContext(context.Background()) // waits for held
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	held.Close()
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, m)
	if n := counter(t, fams, "authd_redis_pool_waits_total", nil); n != 1 {
		t.Errorf("waits = %v, want 1", n)
	}
	if d := counter(t, fams, "authd_redis_pool_wait_duration_seconds_total", nil); d < 0.04 || d > 5 {
		t.Errorf("wait duration = %vs, want about 0.05s", d)
	}
	if f := fams["authd_redis_pool_waits_total"]; f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("waits_total is a %v, want a counter", f.GetType())
	}
}

func TestNilMetricsIsSafe(t *testing.T) {
	var m *metrics.Metrics
	m.SignIn("success")
	m.Throttled("account")
	m.StoreError("redis", "read")
	m.RegisterPool(redispool.Single(&redis.Pool{}))

	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	if got := serve(t, m.Middleware(next), "GET", "/"); got != http.StatusTeapot {
		t.Errorf("nil Middleware: status %d, want the handler's 418", got)
	}
	if got := serve(t, m.Handler(), "GET", "/metrics"); got != http.StatusNotFound {
		t.Errorf("nil Handler: status %d, want 404", got)
	}
}

// Each Metrics has its own registry: two can live in one process, and
// nothing lands on the client library's default registry.
func TestOwnRegistry(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.SignIn("success")
	if got := counter(t, scrape(t, b), "authd_signins_total", map[string]string{"outcome": "success"}); got != 0 {
		t.Errorf("second Metrics saw the first one's sign-in: %v", got)
	}
	def, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range def {
		if strings.HasPrefix(f.GetName(), "authd_") {
			t.Errorf("%s is on the default registry", f.GetName())
		}
	}
	fams := scrape(t, a)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing: the runtime and process collectors should be registered", name)
		}
	}
}
