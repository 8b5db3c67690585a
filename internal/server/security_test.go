package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/sessionauth/authd/internal/clientip"
)

func TestCrossOriginPostsRefused(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser(t, "alice", "password one")
	c := ts.signedIn(t, "bob", "password two")
	form := url.Values{"username": {"alice"}, "password": {"password one"}}

	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
		{"Origin", "null"},
	} {
		wantStatus(t, ts.client(t).postForm("/login", form, h...), http.StatusForbidden)
		wantStatus(t, c.postForm("/logout", nil, h...), http.StatusForbidden)
	}
	// The refused sign-out left the session alone.
	wantStatus(t, c.get("/api/me"), http.StatusOK)

	// curl sends neither header and is served; so is a same-origin browser.
	wantStatus(t, ts.client(t).postForm("/login", form), http.StatusSeeOther)
	wantStatus(t, ts.client(t).postForm("/login", form, "Sec-Fetch-Site", "same-origin", "Origin", ts.URL), http.StatusSeeOther)
}

func TestSignOutNeedsPost(t *testing.T) {
	ts := newTestServer(t)
	c := ts.signedIn(t, "alice", "password one")
	wantStatus(t, c.get("/logout"), http.StatusMethodNotAllowed)
	wantStatus(t, c.get("/api/me"), http.StatusOK)
}

func TestOpenRedirectsRefused(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser(t, "alice", "password one")
	for next, want := range map[string]string{
		"/account?tab=1":       "/account?tab=1",
		"/":                    "/",
		"//evil.example":       "/account",
		"/\\evil.example":      "/account",
		"https://evil.example": "/account",
		"javascript:alert(1)":  "/account",
		"/\t/evil.example":     "/account",
		"\\\\evil.example":     "/account",
		"http:/evil.example":   "/account",
		"":                     "/account",
		"/%2f%2fevil.example":  "/%2f%2fevil.example", // a local path: %2f is not a separator
		"/" + strings.Repeat("a", maxRedirectLen): "/account",
	} {
		c := ts.client(t)
		resp := c.postForm("/login", url.Values{"username": {"alice"}, "password": {"password one"}, "next": {next}})
		wantStatus(t, resp, http.StatusSeeOther)
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("next=%q: Location %q, want %q", next, got, want)
		}
	}
	// The form only carries a safe next through.
	page := body(t, ts.client(t).get("/login?next=//evil.example"))
	if strings.Contains(page, "evil.example") {
		t.Fatal("sign-in form carried an unsafe next")
	}
}

func FuzzLocalRedirect(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "//x", "/\\x", "https://x", "javascript:x", "/\t/x", "/%09/x", "\x00", "/a/../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := localRedirect(s)
		if !ok {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(got, "/") ||
			strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\n\r") {
			t.Fatalf("localRedirect accepted %q", s)
		}
		// What a browser resolves it to stays on this site.
		base, _ := url.Parse("https://site.example/login")
		if r := base.ResolveReference(u); r.Host != "site.example" {
			t.Fatalf("%q resolves to host %q", s, r.Host)
		}
	})
}

func TestOversizedBody(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.maxBody = 4096 })
	c := ts.client(t)
	big := url.Values{"username": {"alice"}, "password": {strings.Repeat("p", 5000)}}
	wantStatus(t, c.postForm("/login", big), http.StatusRequestEntityTooLarge)
	wantStatus(t, c.postForm("/signup", big, "Accept", "application/json"), http.StatusRequestEntityTooLarge)
	// Without Content-Length the cap applies while reading.
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/login", strings.NewReader(big.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.ContentLength = -1
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversized body: status %d, want 413", resp.StatusCode)
	}
}

// TestHostileInputNeverFails sends awkward values in every field of every
// form: each gets a 4xx, never a 5xx, and the database gains no row.
func TestHostileInputNeverFails(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser(t, "alice", "password one")
	values := []string{
		"", " ", strings.Repeat("x", 10000), "\xff\xfe", "a\x00b", "\r\n\t", "'; DROP TABLE users; --",
		"alice' OR '1'='1", "<script>alert(1)</script>", "%00", "\u202e\u200b", "🙂🙂🙂",
	}
	for _, path := range []string{"/login", "/signup"} {
		for _, field := range []string{"username", "password", "next"} {
			for i, v := range values {
				// The other fields stay wrong (a short password; for the
				// password field, a taken name), so no value can succeed.
				form := url.Values{"username": {"nobody"}, "password": {"short"}, "next": {"/"}}
				if field == "password" {
					form.Set("username", "alice")
				}
				form.Set(field, v)
				// HTML and JSON in turn: each value costs a bcrypt comparison.
				for _, accept := range []string{"text/html", "application/json"}[i%2:][:1] {
					resp := ts.client(t).postForm(path, form, "Accept", accept)
					if resp.StatusCode < 400 || resp.StatusCode >= 500 {
						t.Errorf("%s %s=%.20q (%s): status %d, want 4xx", path, field, v, accept, resp.StatusCode)
					}
					if b := body(t, resp); strings.Contains(b, "<script>alert") {
						t.Errorf("%s echoed markup unescaped", path)
					}
				}
			}
		}
	}
	users, err := ts.users.List(context.Background())
	if err != nil || len(users) != 1 {
		t.Fatalf("users: %d (%v), want only alice", len(users), err)
	}
}

// H1, H2: every response carries the headers; HTML pages hold no script.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	ts := newTestServer(t)
	c := ts.signedIn(t, "alice", "password one")
	for _, path := range []string{"/", "/login", "/signup", "/account", "/account/sessions", "/account/password",
		"/account/activity", "/api/me", "/api/sessions", "/api/activity", "/nope", "/healthz", "/static/style.css",
		"/forgot", "/account/email", "/api/email"} {
		resp := c.get(path)
		h := resp.Header
		if b := strings.ToLower(body(t, resp)); strings.Contains(b, "<script") || strings.Contains(b, "javascript:") {
			t.Errorf("%s: page contains script", path)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS sent although not configured", path)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: missing nosniff, DENY or Referrer-Policy: %v", path, h)
		}
		if path != "/static/style.css" && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, h.Get("Cache-Control"))
		}
	}
}

// H3: with HSTS configured, every response says so, signed in or not;
// includeSubDomains and preload are separate choices, off unless asked for
// (includeSubDomains commits every subdomain to HTTPS, preload the domain to
// browsers' built-in lists).
func TestHSTSWhenConfigured(t *testing.T) {
	for _, tc := range []struct {
		name                string
		subdomains, preload bool
		want                string
	}{
		{"max-age only", false, false, "max-age=31536000"},
		{"includeSubDomains", true, false, "max-age=31536000; includeSubDomains"},
		{"preload", true, true, "max-age=31536000; includeSubDomains; preload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(o *testOptions) {
				o.hsts, o.hstsSubdomains, o.hstsPreload = 31536000, tc.subdomains, tc.preload
			})
			c := ts.signedIn(t, "alice", "password one")
			for _, path := range []string{"/", "/login", "/account", "/api/me", "/nope", "/static/style.css"} {
				if got := c.get(path).Header.Get("Strict-Transport-Security"); got != tc.want {
					t.Errorf("%s: Strict-Transport-Security %q, want %q", path, got, tc.want)
				}
			}
			if got := ts.client(t).postForm("/login", nil).Header.Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("an error answer has Strict-Transport-Security %q", got)
			}
		})
	}
}

func TestPanicBecomes500(t *testing.T) {
	a := &app{Config: Config{Log: slog.New(slog.DiscardHandler), ClientAddr: clientip.Peer}}
	h := a.logRequests(a.recoverPanic(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("panic: status %d body %q; want a generic 500", rec.Code, rec.Body.String())
	}
}

// publicRoutes are the routes served without a session. Every other route
// must refuse a request without one.
var publicRoutes = map[string]bool{
	"GET /": true, "GET /login": true, "POST /login": true, "GET /signup": true, "POST /signup": true,
	"POST /logout": true, "GET /healthz": true, "GET /readyz": true, "GET /static/*": true, "GET /favicon.ico": true,
	"GET /forgot": true, "POST /forgot": true, "GET /reset": true, "POST /reset": true,
	"GET /email/verify": true, "POST /email/verify": true,
	// The second step answers pending sessions only (TestPendingSessionRefusedEverywhere).
	"GET /login/2fa": true, "POST /login/2fa": true, "POST /login/passkey/options": true, "POST /login/passkey": true,
	// OAuth (oauth.go): the token endpoint authenticates by grant,
	// introspection by resource-server credentials (401 without), revocation
	// by holding the token; the metadata and the JWKS are public documents.
	"POST /oauth/token": true, "POST /oauth/introspect": true, "POST /oauth/revoke": true,
	"GET /.well-known/oauth-authorization-server": true, "GET /.well-known/jwks.json": true,
}

// isVerifyRoute: the forward-auth endpoints are the session check itself,
// answering 401 and 403 by the rules (TestVerifyAnswers, F1).
func isVerifyRoute(route string) bool { return route == "/auth/request" || route == "/auth/forward" }

func TestEveryRouteIsPublicOrProtected(t *testing.T) {
	ts := newTestServer(t)
	router, ok := ts.srv.Handler.(chi.Routes)
	if !ok {
		t.Fatalf("handler is %T, want a chi router", ts.srv.Handler)
	}
	seen := 0
	err := chi.Walk(router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		seen++
		if publicRoutes[method+" "+route] || isVerifyRoute(route) {
			return nil
		}
		for _, accept := range []string{"text/html", "application/json"} {
			resp := ts.client(t).do(method, strings.ReplaceAll(route, "*", "x"), nil, "Accept", accept)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusSeeOther {
				return errors.New(method + " " + route + " served a request without a session: status " + resp.Status)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < len(publicRoutes)+2 {
		t.Fatalf("walked %d routes; the router lost some", seen)
	}
}
