package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/access"
	"github.com/sessionauth/authd/internal/forwardauth"
	"github.com/sessionauth/authd/internal/group"
	"github.com/sessionauth/authd/internal/session"
)

// The rules of these tests: a public app, an app with a group-only
// admin area, and default deny for every other host.
const testRules = `
rules:
  - domain: public.example.test
    policy: bypass
  - domain: app1.example.test
    path_prefix: /admin
    subject: group:admins
    policy: signed_in
  - domain: app1.example.test
    path_prefix: /admin
    policy: deny
  - domain: [app1.example.test, app2.example.test]
    policy: signed_in
`

var forwardConfig = forwardauth.Config{
	PublicURL:    "http://auth.example.test",
	CookieDomain: "example.test",
}

// newForwardServer is a test server with the rules above and two users:
// alice (no groups) and bob (admins).
func newForwardServer(t *testing.T, opts ...func(*testOptions)) (ts *testServer, alice, bob *client) {
	t.Helper()
	ts = newTestServer(t, append([]func(*testOptions){func(o *testOptions) { o.forward = forwardConfig }}, opts...)...)
	rs, err := access.Parse("rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatal(err)
	}
	ts.guard.SetRules(rs)
	groups := group.NewStore(ts.db)
	if _, err := groups.Create(context.Background(), "admins"); err != nil {
		t.Fatal(err)
	}
	alice = ts.signedIn(t, "alice", "password one")
	bob = ts.signedIn(t, "bob", "password two")
	u, err := ts.users.ByName(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.Change(context.Background(), u.ID, []string{"admins"}, nil); err != nil {
		t.Fatal(err)
	}
	return ts, alice, bob
}

// verify asks a verify endpoint about method rawURL as the given proxy
// would: nginx ("request") with X-Original-*, Caddy or Traefik ("forward")
// with X-Forwarded-*.
func (c *client) verify(endpoint, method, rawURL string, header ...string) *http.Response {
	c.t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		c.t.Fatal(err)
	}
	h := []string{"X-Original-URL", rawURL, "X-Original-Method", method}
	if endpoint == "forward" {
		h = []string{"X-Forwarded-Proto", u.Scheme, "X-Forwarded-Host", u.Host, "X-Forwarded-Uri", u.RequestURI(), "X-Forwarded-Method", method}
	}
	return c.do(http.MethodGet, "/auth/"+endpoint, nil, append(h, header...)...)
}

var endpoints = []string{"request", "forward"}

// F1, F5: 2xx only for a live session the rules allow, 401 signed out,
// 403 signed in but refused; identity headers on success only; every
// answer no-store.
func TestVerifyAnswers(t *testing.T) {
	ts, alice, bob := newForwardServer(t)
	anon := ts.client(t)
	type answer struct {
		status int
		user   string // Remote-User on 200; "" for none
	}
	for _, tc := range []struct {
		who  *client
		name string
		url  string
		want answer
	}{
		{anon, "signed out", "http://public.example.test/", answer{200, ""}},
		{alice, "alice", "http://public.example.test/x", answer{200, "alice"}},
		{anon, "signed out", "http://app1.example.test/", answer{401, ""}},
		{alice, "alice", "http://app1.example.test/wiki", answer{200, "alice"}},
		{alice, "alice", "http://app2.example.test:8443/", answer{200, "alice"}},
		{alice, "alice", "http://app1.example.test/admin/users", answer{403, ""}},
		{anon, "signed out", "http://app1.example.test/admin", answer{401, ""}},
		{bob, "bob", "http://app1.example.test/admin/users", answer{200, "bob"}},
		{alice, "alice", "http://other.example.test/", answer{403, ""}},
		{anon, "signed out", "http://other.example.test/", answer{401, ""}},
		// Upper case and a trailing dot name the same host.
		{alice, "alice", "http://APP1.Example.Test./ADMIN", answer{200, "alice"}}, // path case matters: /ADMIN is not /admin
		{alice, "alice", "http://App1.Example.Test/admin", answer{403, ""}},
	} {
		for _, ep := range endpoints {
			resp := tc.who.verify(ep, "GET", tc.url)
			resp.Body.Close()
			if resp.StatusCode != tc.want.status || resp.Header.Get("Remote-User") != tc.want.user {
				t.Errorf("%s: %s asks about %s: %d Remote-User %q; want %d %q",
					ep, tc.name, tc.url, resp.StatusCode, resp.Header.Get("Remote-User"), tc.want.status, tc.want.user)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s: %s %s: Cache-Control %q, want no-store (F5)", ep, tc.name, tc.url, cc)
			}
			if resp.StatusCode != http.StatusOK {
				for _, h := range []string{"Remote-User", "Remote-Name", "Remote-Groups", "Remote-Session"} {
					if _, ok := resp.Header[h]; ok {
						t.Errorf("%s: %d answer carries %s", ep, resp.StatusCode, h)
					}
				}
			}
		}
	}

	// The identity headers of a success: the user, the groups, and the
	// public id of this very session (the one /api/sessions marks current).
	resp := bob.verify("request", "GET", "http://app1.example.test/admin")
	wantStatus(t, resp, http.StatusOK)
	if resp.Header.Get("Remote-Name") != "bob" || resp.Header.Get("Remote-Groups") != "admins" {
		t.Fatalf("identity headers %v", resp.Header)
	}
	if id := resp.Header.Get("Remote-Session"); id == "" || id != currentSessionID(t, bob) {
		t.Fatalf("Remote-Session %q, want the current session's public id %q", id, currentSessionID(t, bob))
	}
	resp = alice.verify("forward", "GET", "http://app1.example.test/")
	if g, ok := resp.Header["Remote-Groups"]; !ok || len(g) != 1 || g[0] != "" {
		t.Fatalf("Remote-Groups of a user without groups: %q; want present and empty", g)
	}
	// Signed out on a public app: the identity headers are there, empty,
	// so that a proxy copying them replaces a client's copy with nothing.
	resp = anon.verify("forward", "GET", "http://public.example.test/")
	for _, h := range []string{"Remote-User", "Remote-Name", "Remote-Groups", "Remote-Session"} {
		if v, ok := resp.Header[h]; !ok || len(v) != 1 || v[0] != "" {
			t.Errorf("signed-out bypass answer: %s %q; want present and empty", h, v)
		}
	}
}

func currentSessionID(t *testing.T, c *client) string {
	t.Helper()
	resp := c.get("/api/sessions")
	wantStatus(t, resp, http.StatusOK)
	var out struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	for _, s := range out.Sessions {
		if s.Current {
			return s.ID
		}
	}
	t.Fatal("no current session")
	return ""
}

// Without a rules file every signed-in user passes everywhere, and nobody
// else does.
func TestVerifyWithoutRules(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.forward = forwardConfig })
	alice := ts.signedIn(t, "alice", "password one")
	for _, ep := range endpoints {
		wantStatus(t, alice.verify(ep, "DELETE", "https://anything.example.org/x"), http.StatusOK)
		wantStatus(t, ts.client(t).verify(ep, "GET", "https://anything.example.org/x"), http.StatusUnauthorized)
	}
}

// F1, F4: a malformed, forged, signed-out, revoked or expired session is
// never 2xx.
func TestVerifyRefusesDeadSessions(t *testing.T) {
	ts, alice, _ := newForwardServer(t)
	const app = "http://app1.example.test/"
	wantStatus(t, alice.verify("request", "GET", app), http.StatusOK)

	forged := make([]byte, 32)
	rand.Read(forged)
	for name, cookie := range map[string]string{
		"malformed":     "not-a-token",
		"forged":        base64.RawURLEncoding.EncodeToString(forged),
		"too long":      strings.Repeat("A", 44),
		"control chars": "a\rb" + strings.Repeat("c", 40),
	} {
		c := ts.client(t)
		c.setCookie(cookie)
		for _, ep := range endpoints {
			if resp := c.verify(ep, "GET", app); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: %s cookie: status %d, want 401", ep, name, resp.StatusCode)
			}
		}
	}
	// The same session as a bearer token works; a bad bearer token does not.
	bearer := ts.client(t)
	wantStatus(t, bearer.verify("forward", "GET", app, "Authorization", "Bearer "+alice.sessionCookie()), http.StatusOK)
	wantStatus(t, bearer.verify("forward", "GET", app, "Authorization", "Bearer eyJhbGciOiJub25lIn0.e30."), http.StatusUnauthorized)

	// Revoked at authd, from another device: refused on the next request (F4).
	laptop := ts.client(t)
	wantStatus(t, laptop.login("alice", "password one"), http.StatusSeeOther)
	id := currentSessionID(t, alice)
	wantStatus(t, laptop.postForm("/api/sessions/"+id+"/revoke", nil), http.StatusOK)
	for _, ep := range endpoints {
		wantStatus(t, alice.verify(ep, "GET", app), http.StatusUnauthorized)
	}
	// Signed out at authd: refused on the next request, with a kept copy too.
	stolen := ts.client(t)
	stolen.setCookie(laptop.sessionCookie())
	wantStatus(t, stolen.verify("request", "GET", app), http.StatusOK)
	wantStatus(t, laptop.postForm("/logout", nil), http.StatusSeeOther)
	for _, ep := range endpoints {
		wantStatus(t, stolen.verify(ep, "GET", app), http.StatusUnauthorized)
	}
}

func TestVerifyRefusesExpiredSessions(t *testing.T) {
	t.Parallel() // waits for a clock
	_, alice, _ := newForwardServer(t, func(o *testOptions) {
		o.session = session.Config{Lifetime: time.Second, IdleTimeout: 900 * time.Millisecond, RefreshInterval: 100 * time.Millisecond}
	})
	// Wait until authd's own page sees the session ended...
	deadline := time.Now().Add(30 * time.Second)
	for alice.get("/api/me").StatusCode == http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("session did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// ...then no verify answer is 2xx.
	for _, ep := range endpoints {
		wantStatus(t, alice.verify(ep, "GET", "http://app1.example.test/"), http.StatusUnauthorized)
	}
}

// Signed-out browsers are sent to sign in and back; everything else gets
// 401. nginx always gets 401 with the sign-in URL in Location, which its
// error_page turns into the redirect.
func TestVerifySignInRedirects(t *testing.T) {
	ts, _, _ := newForwardServer(t)
	anon := ts.client(t)
	const app = "http://app1.example.test/wiki/Main%20Page?action=edit"
	signIn := "http://auth.example.test/login?rd=" + url.QueryEscape(app)
	html := []string{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}

	for _, tc := range []struct {
		endpoint, method string
		header           []string
		status           int
		location         string
	}{
		{"forward", "GET", html, http.StatusFound, signIn},
		{"forward", "HEAD", html, http.StatusFound, signIn},
		{"forward", "POST", html, http.StatusSeeOther, signIn},
		{"forward", "GET", append([]string{"X-Requested-With", "XMLHttpRequest"}, html...), http.StatusUnauthorized, signIn},
		{"forward", "GET", []string{"Accept", "application/json"}, http.StatusUnauthorized, signIn},
		{"forward", "GET", nil, http.StatusUnauthorized, signIn},
		{"request", "GET", html, http.StatusUnauthorized, signIn},
		{"request", "POST", nil, http.StatusUnauthorized, signIn},
	} {
		resp := anon.verify(tc.endpoint, tc.method, app, tc.header...)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s %s %v: %d Location %q; want %d %q", tc.endpoint, tc.method, tc.header, resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
		}
	}
	// A URL that a sign-in may not return to (not below the cookie
	// domain) still gets the sign-in page, without a return target.
	resp := anon.verify("request", "GET", "http://intranet.other.test/")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Location") != "http://auth.example.test/login" {
		t.Fatalf("unlisted host: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// JSON clients get JSON.
	resp = anon.verify("forward", "GET", app, "Accept", "application/json")
	if !strings.Contains(body(t, resp), `"error":"not signed in"`) {
		t.Fatal("401 for a JSON client is not JSON")
	}
}

// Bad input is a clear 4xx, never 2xx and never 5xx: missing or malformed
// descriptions, ambiguous paths and oversized headers.
func TestVerifyBadInput(t *testing.T) {
	ts, alice, _ := newForwardServer(t)
	for _, c := range []*client{ts.client(t), alice} {
		for _, h := range [][]string{
			nil,
			{"X-Original-URL", "http://app1.example.test/"},
			{"X-Original-Method", "GET"},
			{"X-Original-URL", "not a url", "X-Original-Method", "GET"},
			{"X-Original-URL", "http://app1.example.test/public/../admin", "X-Original-Method", "GET"},
			{"X-Original-URL", "http://app1.example.test/%2e%2e/admin", "X-Original-Method", "GET"},
			{"X-Original-URL", "http://app1.example.test/a%2fb", "X-Original-Method", "GET"},
			{"X-Original-URL", "http://app1.example.test/%zz", "X-Original-Method", "GET"},
			{"X-Original-URL", "http://evil@app1.example.test/", "X-Original-Method", "GET"},
			{"X-Original-URL", "http://app1.example.test/\xff\xfe", "X-Original-Method", "GET /"},
			{"X-Original-URL", "http://app1.example.test/" + strings.Repeat("a", 10000), "X-Original-Method", "GET"},
			{"X-Original-URL", "javascript:alert(1)", "X-Original-Method", "GET"},
		} {
			resp := c.do(http.MethodGet, "/auth/request", nil, h...)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("/auth/request with %q: %d, want 403", h, resp.StatusCode)
			}
		}
		for _, h := range [][]string{
			nil,
			{"X-Forwarded-Host", "app1.example.test", "X-Forwarded-Uri", "/", "X-Forwarded-Method", "GET"},
			{"X-Forwarded-Proto", "gopher", "X-Forwarded-Host", "app1.example.test", "X-Forwarded-Uri", "/", "X-Forwarded-Method", "GET"},
			{"X-Forwarded-Proto", "http", "X-Forwarded-Host", "app1.example.test, evil.example", "X-Forwarded-Uri", "/", "X-Forwarded-Method", "GET"},
			{"X-Forwarded-Proto", "http", "X-Forwarded-Host", "app1.example.test", "X-Forwarded-Uri", "/x/..;/admin", "X-Forwarded-Method", "GET"},
			// Caddy and Traefik pass a client's X-Original-URL through: ignored.
			{"X-Original-URL", "http://public.example.test/", "X-Original-Method", "GET"},
		} {
			resp := c.do(http.MethodGet, "/auth/forward", nil, h...)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("/auth/forward with %q: %d, want 400", h, resp.StatusCode)
			}
		}
	}
}

// A verify request is answered from one Redis read, the session's load,
// and writes nothing within the refresh interval. Any method, cross-site
// or not, is a question, not a change.
func TestVerifyOneRedisReadNoWrite(t *testing.T) {
	ts, alice, bob := newForwardServer(t)
	// The group cache is warm after one request each.
	wantStatus(t, alice.verify("request", "GET", "http://app1.example.test/"), http.StatusOK)
	wantStatus(t, bob.verify("forward", "GET", "http://app1.example.test/admin"), http.StatusOK)
	conn := ts.redis.Conn(t)
	if _, err := conn.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n / 4 {
		method := []string{"GET", "POST", "DELETE", "PUT"}[i%4]
		cross := []string{"Sec-Fetch-Site", "same-site", "Origin", "http://app1.example.test"}
		wantStatus(t, alice.verify("request", method, "http://app1.example.test/edit", cross...), http.StatusOK)
		wantStatus(t, alice.verify("forward", method, "http://app2.example.test/", cross...), http.StatusOK)
		wantStatus(t, bob.verify("request", method, "http://app1.example.test/admin/x"), http.StatusOK)
		wantStatus(t, alice.verify("forward", method, "http://app1.example.test/admin/x"), http.StatusForbidden)
	}
	info, err := conn.Do("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	stats := string(info.([]byte))
	for _, line := range strings.Split(stats, "\n") {
		if !strings.HasPrefix(line, "cmdstat_") || strings.HasPrefix(line, "cmdstat_info:") || strings.HasPrefix(line, "cmdstat_config") {
			continue
		}
		if !strings.HasPrefix(line, "cmdstat_get:calls=40,") {
			t.Errorf("want exactly %d GETs and no other command for %d verify requests; got %s", n, n, line)
		}
	}
	if !strings.Contains(stats, "cmdstat_get:calls=40,") {
		t.Fatalf("want exactly %d GETs:\n%s", n, stats)
	}
}

func TestVerifyRedisDown(t *testing.T) {
	ts, alice, _ := newForwardServer(t)
	ts.redis.Stop(t)
	for _, ep := range endpoints {
		resp := alice.verify(ep, "GET", "http://app1.example.test/")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s with Redis down: %d, want 503 no-store", ep, resp.StatusCode)
		}
	}
	// A public app: a request with a cookie cannot be told apart from a
	// signed-out one (503, never a guess); one without needs no Redis.
	wantStatus(t, alice.verify("request", "GET", "http://public.example.test/"), http.StatusServiceUnavailable)
	wantStatus(t, ts.client(t).verify("request", "GET", "http://public.example.test/"), http.StatusOK)
}

// BenchmarkVerify is one nginx verify request through the whole handler,
// beside BenchmarkProtectedPage/api-me, which costs the same session load.
//
//	go test -run '^$' -bench 'Verify|ProtectedPage/api' ./internal/server/
func BenchmarkVerify(b *testing.B) {
	ts := newTestServer(b, func(o *testOptions) {
		o.forward = forwardConfig
		o.forward.GroupsTTL = time.Minute // the default of GROUPS_REFRESH_INTERVAL
	})
	rs, err := access.Parse("rules.yaml", []byte(testRules))
	if err != nil {
		b.Fatal(err)
	}
	ts.guard.SetRules(rs)
	token := ts.signedIn(b, "alice", "password one").sessionCookie()
	h := ts.Config.Handler
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/auth/request", nil)
			req.Header.Set("X-Original-URL", "http://app1.example.test/wiki/Main_Page")
			req.Header.Set("X-Original-Method", "GET")
			req.AddCookie(&http.Cookie{Name: "session_id", Value: token})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
