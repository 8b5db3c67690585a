package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/sessionauth/authd/internal/session"
)

// newRequestID returns a random request id: 96 bits, base64url. Unlike a
// counter, it tells a client neither which instance answered nor how many
// requests it served in between.
func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
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
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		if !a.Log.Enabled(r.Context(), slog.LevelInfo) {
			// LOG_LEVEL=warn and above: no line to write, so none to build
			// (the attributes cost 2.7% of a protected request).
			next.ServeHTTP(ww, r)
			return
		}
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

// contentSecurityPolicyScripts is the policy of the pages that use
// WebAuthn: the same, plus script files from our origin (web/static/webauthn.js).
const contentSecurityPolicyScripts = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secureHeaders sets the headers every response carries. Responses are not
// cached by default, since most show who is signed in; static assets opt in.
//
// The names are canonical already and each value is built once: setting a
// header is then a map assignment, without canonicalising the name or
// allocating a slice per header and request. Each value slice has no spare
// capacity, so a handler's Header().Add appends into a new array and
// never into the shared one; Set replaces the slice.
func (a *app) secureHeaders(next http.Handler) http.Handler {
	type header struct {
		name  string
		value []string
	}
	one := func(v string) []string { return slices.Clip([]string{v}) }
	headers := []header{
		{"Content-Security-Policy", one(contentSecurityPolicy)},
		{"X-Content-Type-Options", one("nosniff")},
		{"X-Frame-Options", one("DENY")},
		{"Referrer-Policy", one("same-origin")},
		{"Cross-Origin-Opener-Policy", one("same-origin")},
		{"Cache-Control", one("no-store")},
	}
	if a.hsts != "" {
		headers = append(headers, header{"Strict-Transport-Security", one(a.hsts)})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, x := range headers {
			h[x.name] = x.value
		}
		next.ServeHTTP(w, r)
	})
}

// staticFiles serves the embedded assets, which browsers may keep for an
// hour. Only files are served: a directory, a missing file or a path that is
// no valid file name at all (invalid UTF-8, "..") gets the site's 404 page,
// never a listing, a 5xx or Go's plain-text error.
func (a *app) staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path // what follows /static/
		if !fs.ValidPath(name) {
			a.handleNotFound(w, r)
			return
		}
		if st, err := fs.Stat(fsys, name); err != nil || st.IsDir() {
			a.handleNotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
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
		case errors.Is(err, session.ErrSignedOut) && a.ambiguousCookie(r):
			a.handleAmbiguousCookie(w, r)
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
