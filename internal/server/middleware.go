package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/sessionauth/authd/internal/session"
)

// requestIDs makes short, unique request ids: a random per-process prefix
// and a counter, cheaper than reading crypto/rand on every request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() (*requestIDs, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("server: request id prefix: %w", err)
	}
	return &requestIDs{prefix: hex.EncodeToString(b)}, nil
}

func (g *requestIDs) next() string {
	return g.prefix + "-" + strconv.FormatUint(g.n.Add(1), 10)
}

type requestIDKey struct{}

// logger returns the server's logger annotated with the request id.
func (a *app) logger(r *http.Request) *slog.Logger {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return a.Log.With("request_id", id)
}

// logRequests gives each request an id and logs one line when it ends. The
// query string is left out: it is the one part of a URL a user might paste
// something private into.
func (a *app) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := a.ids.next()
		w.Header().Set("X-Request-Id", id)
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		defer func() {
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			a.Log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("request_id", id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int("bytes", ww.BytesWritten()),
				slog.Duration("duration", time.Since(start)),
				slog.String("client", a.ClientAddr(r)))
		}()
		next.ServeHTTP(ww, r)
	})
}

// recoverPanic turns a panic into a logged 500, so one bad request cannot
// take the process down.
func (a *app) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec) // net/http's own signal to drop the connection
			}
			a.logger(r).Error("panic", "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			if ww, ok := w.(middleware.WrapResponseWriter); ok && ww.Status() != 0 {
				return // too late for an error page
			}
			w.Header().Set("Connection", "close")
			a.serverError(w, r, errors.New("panic recovered"))
		}()
		next.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows no script at all, styles from our origin only,
// and no framing.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secureHeaders sets the headers every response carries. Responses are not
// cached by default, since most show who is signed in; static assets opt in.
func (a *app) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if a.HSTSMaxAge > 0 {
			h.Set("Strict-Transport-Security", "max-age="+strconv.Itoa(a.HSTSMaxAge)+"; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// cacheStatic lets browsers keep the embedded assets for an hour. It
// serves files only: a directory path is 404, not a listing.
func (a *app) cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			a.handleNotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// limitBody refuses bodies over MaxBodyBytes: at once when Content-Length
// says so, and while reading otherwise (the form decoder then answers 413).
func (a *app) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > a.MaxBodyBytes {
			w.Header().Set("Connection", "close")
			a.fail(w, r, http.StatusRequestEntityTooLarge, "The request is too large.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// requireUser lets signed-in requests through. Others are sent to the
// sign-in page (HTML) or get 401 (JSON); when Redis cannot be asked, 503.
func (a *app) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := a.Sessions.Current(r.Context())
		switch {
		case errors.Is(err, session.ErrSignedOut):
			if wantsJSON(r) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
				a.fail(w, r, http.StatusUnauthorized, "not signed in")
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		case err != nil:
			a.unavailable(w, r, err)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
