package server

import (
	"context"
	"net/http"
	"time"
)

// handleHealth answers while the process can serve HTTP at all.
func (a *app) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady answers 200 when Redis and the database both answer, and 503
// naming the one that does not. Causes go to the log, not to the client.
func (a *app) handleReady(w http.ResponseWriter, r *http.Request) {
	// Each dependency gets its own time, checked at once: a hung Redis must
	// not use up the database's time and get it reported down too.
	check := func(name string, ping func(context.Context) error) <-chan error {
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			err := ping(ctx)
			if err != nil {
				a.logger(r).Warn("readiness: "+name, "err", err)
			}
			done <- err
		}()
		return done
	}
	redisErr := check("redis", func(ctx context.Context) error { return a.Redis.Ping(ctx) })
	dbErr := check("database", a.DB.PingContext)
	checks := map[string]string{"redis": "ok", "database": "ok"}
	status := http.StatusOK
	if <-redisErr != nil {
		checks["redis"], status = "unavailable", http.StatusServiceUnavailable
	}
	if <-dbErr != nil {
		checks["database"], status = "unavailable", http.StatusServiceUnavailable
	}
	state := "ok"
	if status != http.StatusOK {
		state = "unavailable"
	}
	body := map[string]any{"status": state, "checks": checks}
	if a.StoreWarning != "" {
		body["warning"] = a.StoreWarning
	}
	writeJSON(w, status, body)
}

// handleNotFound answers unknown paths.
func (a *app) handleNotFound(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, http.StatusNotFound, "There is no page at this address.")
}

// handleMethodNotAllowed answers a known path with the wrong method, such as
// GET /logout: signing out takes a POST.
func (a *app) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, http.StatusMethodNotAllowed, "This address does not accept that kind of request.")
}

// handleCrossOrigin refuses a state-changing request a browser marked as
// coming from another site.
func (a *app) handleCrossOrigin(w http.ResponseWriter, r *http.Request) {
	a.logger(r).Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"))
	a.fail(w, r, http.StatusForbidden, "This request came from another site and was refused.")
}
