package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/sessionauth/authd/internal/metrics"
)

// discard is a ResponseWriter that keeps nothing, so the benchmark measures
// the router and the middleware rather than a recorder's buffers.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkMiddleware is the cost per request of the metrics middleware:
// compare "metrics" with "bare", the same chi router without it.
func BenchmarkMiddleware(b *testing.B) {
	for _, bc := range []struct {
		name string
		m    *metrics.Metrics
	}{
		{"bare", nil}, // a nil *Metrics installs no middleware
		{"metrics", metrics.New()},
	} {
		r := chi.NewRouter()
		r.Use(bc.m.Middleware)
		r.Get("/users/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
		req := httptest.NewRequest(http.MethodGet, "/users/42", nil)

		b.Run(bc.name, func(b *testing.B) {
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				r.ServeHTTP(w, req)
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discard{h: http.Header{}}
				for pb.Next() {
					r.ServeHTTP(w, req)
				}
			})
		})
	}
}
