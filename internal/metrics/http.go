package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// unmatched is the route label of requests no route matched (404s from the
// router, and 405s, for which chi records no pattern either).
const unmatched = "unmatched"

// Middleware counts each request and observes its duration, labelled with
// the chi route pattern (such as "/users/{id}") rather than the path, so
// the number of series stays bounded whatever URLs clients send.
//
// Install it with r.Use on the chi router, first in the chain: chi puts its
// routing context in the request before running the router's middleware and
// fills in the pattern while routing, so the pattern is read after next has
// served. Wrapped around a router from outside, it sees no routing context
// and labels every request "unmatched".
//
// The response writer is wrapped with chi's WrapResponseWriter, which keeps
// http.Flusher, http.Hijacker and io.ReaderFrom when the original has them,
// and has Unwrap for http.ResponseController.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		served := false
		// Deferred, without recover, so that a panic passing through (such
		// as http.ErrAbortHandler) is counted and still reaches net/http
		// with its stack intact.
		defer func() {
			code := ww.Status()
			if code == 0 {
				code = http.StatusOK // net/http's default when nothing was written
				if !served {
					code = http.StatusInternalServerError
				}
			}
			route := chi.RouteContext(r.Context()).RoutePattern()
			if route == "" {
				route = unmatched
			}
			method := methodLabel(r.Method)
			m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
			m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(ww, r)
		served = true
	})
}

// methodLabel returns the standard method names as they are and "other" for
// anything else, which a client may make up freely.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return other
}
