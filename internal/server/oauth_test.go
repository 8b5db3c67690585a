package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/sessionauth/authd/internal/token"
)

// oauthClock is the clock of the refresh grace window.
type oauthClock struct{ ns atomic.Int64 }

func (c *oauthClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *oauthClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

const rsSecret = "resource server secret of at least some length"

func newOAuthServer(t *testing.T, opts ...func(*testOptions)) (*testServer, *oauthClock) {
	t.Helper()
	clock := &oauthClock{}
	clock.ns.Store(time.Now().UnixNano())
	sum := sha256.Sum256([]byte(rsSecret))
	all := append([]func(*testOptions){func(o *testOptions) {
		o.session.Now = clock.now
		o.audiences = []string{"https://api.example.test"}
		o.resourceServers = []ResourceServer{{ID: "api", SecretHash: sum[:]}}
		o.corsOrigins = []string{"https://app.example.test"}
	}}, opts...)
	return newTestServer(t, all...), clock
}

type tokenReply struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	DeviceToken  string `json:"device_token"`
}

func postToken(t *testing.T, c *client, form url.Values, header ...string) (*http.Response, tokenReply) {
	t.Helper()
	resp := c.postForm("/oauth/token", form, header...)
	var tr tokenReply
	if err := json.Unmarshal([]byte(body(t, resp)), &tr); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp, tr
}

func passwordGrant(t *testing.T, c *client, name, pw string) tokenReply {
	t.Helper()
	resp, tr := postToken(t, c, url.Values{"grant_type": {"password"}, "username": {name}, "password": {pw}, "client_id": {"cli"}})
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" || tr.RefreshToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn != 300 {
		t.Fatalf("password grant: %d %+v", resp.StatusCode, tr)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	return tr
}

func refresh(t *testing.T, c *client, rt string) (*http.Response, tokenReply) {
	t.Helper()
	return postToken(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func introspect(t *testing.T, c *client, tok string) map[string]any {
	t.Helper()
	resp := c.postForm("/oauth/introspect", url.Values{"token": {tok}}, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("api:"+rsSecret)))
	wantStatus(t, resp, http.StatusOK)
	var m map[string]any
	if err := json.Unmarshal([]byte(body(t, resp)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func me(c *client, access string) *http.Response {
	return c.get("/api/me", "Authorization", "Bearer "+access)
}

// The whole life of a token session through the router: password grant,
// /api/me with the JWT, listed with the sessions, refresh, the old token
// within the window, and outside it: the family ends (T2, T4, T6).
func TestOAuthTokenLife(t *testing.T) {
	t.Parallel()
	ts, clock := newOAuthServer(t)
	browser := ts.signedIn(t, "alice", "alice password")
	app := ts.client(t)
	tr := passwordGrant(t, app, "alice", "alice password")

	resp := me(app, tr.AccessToken)
	wantStatus(t, resp, http.StatusOK)
	if b := body(t, resp); !strings.Contains(b, `"name":"alice"`) || !strings.Contains(b, `"amr":["pwd"]`) {
		t.Errorf("/api/me with the JWT (want the name and amr [pwd]): %s", b)
	}
	list := body(t, browser.get("/api/sessions"))
	if !strings.Contains(list, `"device":"API client · cli"`) || !strings.Contains(list, `"kind":"api"`) {
		t.Errorf("session list does not show the API client: %s", list)
	}
	if m := introspect(t, app, tr.AccessToken); m["active"] != true || m["sub"] == "" || m["client_id"] != "cli" {
		t.Errorf("introspection of a live JWT: %v", m)
	}
	if m := introspect(t, app, tr.RefreshToken); m["active"] != true {
		t.Errorf("introspection of a live refresh token: %v", m)
	}

	resp, r1 := refresh(t, app, tr.RefreshToken)
	wantStatus(t, resp, http.StatusOK)
	if r1.RefreshToken == tr.RefreshToken || r1.AccessToken == "" {
		t.Fatalf("refresh did not rotate: %+v", r1)
	}
	// Within the window the old token answers the current one (a lost response).
	resp, again := refresh(t, app, tr.RefreshToken)
	wantStatus(t, resp, http.StatusOK)
	if again.RefreshToken != r1.RefreshToken {
		t.Errorf("within the grace window: %q, want the current %q", again.RefreshToken, r1.RefreshToken)
	}
	if m := introspect(t, app, tr.RefreshToken); m["active"] != false {
		t.Errorf("a rotated refresh token is active: %v", m)
	}

	clock.advance(11 * time.Second)
	resp, reused := refresh(t, app, tr.RefreshToken)
	if resp.StatusCode != http.StatusBadRequest || reused.Error != "invalid_grant" {
		t.Fatalf("reuse outside the window: %d %+v", resp.StatusCode, reused)
	}
	// The family is gone: the current token, the JWT at authd, introspection, the list.
	if resp, tr := refresh(t, app, r1.RefreshToken); resp.StatusCode != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("current token after reuse: %d %+v", resp.StatusCode, tr)
	}
	wantStatus(t, me(app, r1.AccessToken), http.StatusUnauthorized)
	if m := introspect(t, app, r1.AccessToken); m["active"] != false {
		t.Errorf("introspection after reuse: %v", m)
	}
	if list := body(t, browser.get("/api/sessions")); strings.Contains(list, "API client") {
		t.Errorf("ended token session still listed: %s", list)
	}
	ts.flushActivity(t)
	if logs := ts.logs.String(); !strings.Contains(logs, "event=refresh_token_reuse") {
		t.Error("no audit line for the reuse")
	}
	if act := body(t, browser.get("/api/activity")); !strings.Contains(act, "refresh_token_reused") {
		t.Errorf("no activity event for the reuse: %.400s", act)
	}
}

// T3 through HTTP: concurrent refreshes with one token all get the same new one.
func TestOAuthConcurrentRefresh(t *testing.T) {
	t.Parallel()
	ts, _ := newOAuthServer(t)
	ts.addUser(t, "bob", "bob password")
	app := ts.client(t)
	tr := passwordGrant(t, app, "bob", "bob password")
	const n = 6
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, r := postToken(t, app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
			if resp.StatusCode == http.StatusOK {
				got[i] = r.RefreshToken
			}
		})
	}
	wg.Wait()
	for i := range n {
		if got[i] == "" || got[i] != got[0] {
			t.Fatalf("refreshes answered %q: want one shared new token", got)
		}
	}
	wantStatus(t, func() *http.Response { r, _ := refresh(t, app, got[0]); return r }(), http.StatusOK)
}

// T4: a password change and sign-out-everywhere end token sessions; so do
// revoking it from the list and RFC 7009 revocation.
func TestTokenSessionsEnd(t *testing.T) {
	t.Parallel()
	ts, _ := newOAuthServer(t)
	browser := ts.signedIn(t, "carol", "carol password")
	app := ts.client(t)
	ends := map[string]func(tr tokenReply){
		"sign out everywhere": func(tokenReply) {
			wantStatus(t, browser.do(http.MethodPost, "/api/sessions/revoke-others", nil), http.StatusOK)
		},
		"revoke from the list": func(tr tokenReply) {
			c, err := ts.issuer.Verify(context.Background(), tr.AccessToken, testPublicURL)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, browser.do(http.MethodPost, "/api/sessions/"+c.SessionID+"/revoke", nil), http.StatusOK)
		},
		"oauth revoke refresh": func(tr tokenReply) {
			wantStatus(t, app.postForm("/oauth/revoke", url.Values{"token": {tr.RefreshToken}}), http.StatusOK)
		},
		"oauth revoke access": func(tr tokenReply) {
			wantStatus(t, app.postForm("/oauth/revoke", url.Values{"token": {tr.AccessToken}}), http.StatusOK)
		},
		"sign out with the JWT": func(tr tokenReply) {
			wantStatus(t, app.do(http.MethodPost, "/logout", nil, "Authorization", "Bearer "+tr.AccessToken, "Accept", "application/json"), http.StatusOK)
		},
	}
	for name, end := range ends {
		tr := passwordGrant(t, app, "carol", "carol password")
		wantStatus(t, me(app, tr.AccessToken), http.StatusOK)
		end(tr)
		if resp := me(app, tr.AccessToken); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: JWT still accepted (%d)", name, resp.StatusCode)
		}
		if resp, r := refresh(t, app, tr.RefreshToken); resp.StatusCode != http.StatusBadRequest || r.Error != "invalid_grant" {
			t.Errorf("%s: refresh %d %+v", name, resp.StatusCode, r)
		}
	}
	wantStatus(t, browser.get("/api/me"), http.StatusOK) // only the others ended
	// Password change (credential epoch).
	tr := passwordGrant(t, app, "carol", "carol password")
	wantStatus(t, browser.postForm("/api/password", url.Values{"current_password": {"carol password"}, "new_password": {"carol password two"}}), http.StatusOK)
	wantStatus(t, me(app, tr.AccessToken), http.StatusUnauthorized)
	if resp, _ := refresh(t, app, tr.RefreshToken); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("refresh after a password change: %d", resp.StatusCode)
	}
	// RFC 7009: unknown tokens are 200 too.
	for _, tok := range []string{"nothing", tr.RefreshToken, "a.b.c", strings.Repeat("x", 3000)} {
		wantStatus(t, app.postForm("/oauth/revoke", url.Values{"token": {tok}}), http.StatusOK)
	}
}

// The password grant is the sign-in form's path: the same throttle (the
// form's failures lock the grant out too), the 72-byte rule, audit lines.
func TestPasswordGrantSharesSignIn(t *testing.T) {
	t.Parallel()
	ts, _ := newOAuthServer(t, func(o *testOptions) { o.limits = Limits{AccountFailures: 3, Window: time.Minute} })
	ts.addUser(t, "dave", "dave password")
	app := ts.client(t)
	grant := func(pw string) (*http.Response, tokenReply) {
		return postToken(t, app, url.Values{"grant_type": {"password"}, "username": {"dave"}, "password": {pw}})
	}
	if resp, tr := grant(strings.Repeat("p", 73)); resp.StatusCode != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("73-byte password: %d %+v", resp.StatusCode, tr)
	}
	wantStatus(t, app.login("dave", "wrong"), http.StatusUnauthorized)
	if resp, tr := grant("wrong"); resp.StatusCode != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("wrong password: %d %+v", resp.StatusCode, tr)
	}
	resp, _ := grant("dave password")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("correct password after 3 failures (form and grant): %d, want 429 with Retry-After", resp.StatusCode)
	}
	if n := strings.Count(ts.logs.String(), "event=sign_in outcome=failure"); n != 3 {
		t.Errorf("%d sign-in failure audit lines, want 3", n)
	}
	if !strings.Contains(ts.logs.String(), "event=sign_in outcome=throttled") {
		t.Error("no throttled audit line for the grant")
	}
}

// Hostile input gets 4xx, never 5xx, and never a session.
func TestOAuthHostileInput(t *testing.T) {
	t.Parallel()
	ts, _ := newOAuthServer(t)
	ts.addUser(t, "erin", "erin password")
	c := ts.client(t)
	tr := passwordGrant(t, c, "erin", "erin password")
	parts := strings.Split(tr.AccessToken, ".")
	hdr := func(v map[string]string) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	for name, form := range map[string]url.Values{
		"no grant":           {},
		"unknown grant":      {"grant_type": {"client_credentials"}},
		"repeated":           {"grant_type": {"password", "password"}, "username": {"erin"}, "password": {"x"}},
		"no password":        {"grant_type": {"password"}, "username": {"erin"}},
		"bad client_id":      {"grant_type": {"password"}, "username": {"erin"}, "password": {"x"}, "client_id": {"a b\n"}},
		"long client_id":     {"grant_type": {"password"}, "username": {"erin"}, "password": {"x"}, "client_id": {strings.Repeat("a", 65)}},
		"no refresh":         {"grant_type": {"refresh_token"}},
		"bad refresh":        {"grant_type": {"refresh_token"}, "refresh_token": {"x.y"}},
		"huge refresh":       {"grant_type": {"refresh_token"}, "refresh_token": {strings.Repeat("a.", 10000)}},
		"session as refresh": {"grant_type": {"refresh_token"}, "refresh_token": {tr.AccessToken}},
	} {
		resp := c.postForm("/oauth/token", form)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
	}
	resp := c.do(http.MethodPost, "/oauth/token", strings.NewReader(`{"grant_type":"password"}`), "Content-Type", "application/json")
	wantStatus(t, resp, http.StatusBadRequest)
	resp = c.do(http.MethodPost, "/oauth/token", strings.NewReader("grant_type=password&"+strings.Repeat("a", 70000)), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusRequestEntityTooLarge && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}
	for name, bearer := range map[string]string{
		"alg none":    hdr(map[string]string{"alg": "none", "typ": "at+jwt"}) + "." + parts[1] + ".",
		"HS256":       hdr(map[string]string{"alg": "HS256", "typ": "at+jwt", "kid": "x"}) + "." + parts[1] + "." + parts[2],
		"wrong kid":   hdr(map[string]string{"alg": "ES256", "typ": "at+jwt", "kid": "nope"}) + "." + parts[1] + "." + parts[2],
		"truncated":   parts[0] + "." + parts[1] + "." + parts[2][:10],
		"oversized":   parts[0] + "." + strings.Repeat("A", 20000) + "." + parts[2],
		"garbage":     "...",
		"not base64":  "%%%.%%%.%%%",
		"refresh tok": tr.RefreshToken,
	} {
		resp := me(c, bearer)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: /api/me %d, want 401", name, resp.StatusCode)
		}
	}
	for _, path := range []string{"/oauth/introspect", "/oauth/revoke"} {
		resp := c.do(http.MethodPost, path, strings.NewReader("token=%zz"), "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s with a broken form: %d", path, resp.StatusCode)
		}
	}
}

// T6: introspection needs client authentication.
func TestIntrospectionNeedsClientAuth(t *testing.T) {
	t.Parallel()
	ts, _ := newOAuthServer(t)
	ts.addUser(t, "fay", "fay password")
	c := ts.client(t)
	tr := passwordGrant(t, c, "fay", "fay password")
	for name, h := range map[string][]string{
		"none":         nil,
		"wrong secret": {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("api:wrong"))},
		"wrong id":     {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("other:"+rsSecret))},
	} {
		resp := c.postForm("/oauth/introspect", url.Values{"token": {tr.AccessToken}}, h...)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body(t, resp), "invalid_client") {
			t.Errorf("%s: %d, want 401 invalid_client", name, resp.StatusCode)
		}
	}
	// client_secret_post works too.
	resp := c.postForm("/oauth/introspect", url.Values{"token": {tr.AccessToken}, "client_id": {"api"}, "client_secret": {rsSecret}})
	if b := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(b, `"active":true`) {
		t.Errorf("client_secret_post: %d %s", resp.StatusCode, b)
	}
	if m := introspect(t, c, "unknown"); m["active"] != false {
		t.Errorf("unknown token: %v", m)
	}
}

// Forward auth accepts a JWT whose session is live, and refuses it the
// moment the session ends (F4 with tokens).
func TestForwardAuthBearer(t *testing.T) {
	t.Parallel()
	ts, _ := newOAuthServer(t)
	ts.addUser(t, "gus", "gus password")
	c := ts.client(t)
	tr := passwordGrant(t, c, "gus", "gus password")
	h := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "app1.example.test", "X-Forwarded-Uri", "/", "X-Forwarded-Method", "GET",
		"Authorization", "Bearer " + tr.AccessToken}
	resp := c.get("/auth/forward", h...)
	wantStatus(t, resp, http.StatusOK)
	if resp.Header.Get("Remote-User") != "gus" {
		t.Errorf("Remote-User %q", resp.Header.Get("Remote-User"))
	}
	wantStatus(t, c.postForm("/oauth/revoke", url.Values{"token": {tr.RefreshToken}}), http.StatusOK)
	wantStatus(t, c.get("/auth/forward", h...), http.StatusUnauthorized)
}

// /api/token mints a JWT for a configured service only; ending the browser
// session ends it at introspection.
func TestMintToken(t *testing.T) {
	t.Parallel()
	ts, _ := newOAuthServer(t)
	browser := ts.signedIn(t, "hal", "hal password")
	resp := browser.postForm("/api/token", url.Values{"aud": {"https://evil.example"}})
	wantStatus(t, resp, http.StatusBadRequest)
	resp = browser.postForm("/api/token", url.Values{"aud": {"https://api.example.test"}})
	wantStatus(t, resp, http.StatusOK)
	var m struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal([]byte(body(t, resp)), &m)
	if _, err := ts.issuer.Verify(context.Background(), m.AccessToken, "https://api.example.test"); err != nil {
		t.Fatalf("minted token: %v", err)
	}
	// A token for another service is not accepted by authd itself.
	wantStatus(t, me(ts.client(t), m.AccessToken), http.StatusUnauthorized)
	if got := introspect(t, browser, m.AccessToken); got["active"] != true {
		t.Errorf("minted token inactive: %v", got)
	}
	wantStatus(t, browser.postForm("/logout", nil, "Accept", "application/json"), http.StatusOK)
	if got := introspect(t, ts.client(t), m.AccessToken); got["active"] != false {
		t.Errorf("minted token after sign-out: %v", got)
	}
	wantStatus(t, ts.client(t).postForm("/api/token", url.Values{"aud": {"https://api.example.test"}}), http.StatusUnauthorized)
}

// Interop: golang.org/x/oauth2 as an unmodified client (password grant,
// then its TokenSource refreshing an expired token), and go-jose
// verifying the access token from the served JWKS alone.
func TestOAuthInterop(t *testing.T) {
	t.Parallel()
	ts, _ := newOAuthServer(t)
	ts.addUser(t, "ivy", "ivy password")
	cfg := &oauth2.Config{ClientID: "go-oauth2", Endpoint: oauth2.Endpoint{TokenURL: ts.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, ts.Client())
	tok, err := cfg.PasswordCredentialsToken(ctx, "ivy", "ivy password")
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 4*time.Minute {
		t.Fatalf("token %+v", tok)
	}
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	fresh, err := cfg.TokenSource(ctx, &expired).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Fatal("the TokenSource did not refresh")
	}
	resp, err := cfg.Client(ctx, fresh).Get(ts.URL + "/api/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/me through oauth2.Client: %d", resp.StatusCode)
	}

	// A third party: metadata, then the JWKS, then a local verification.
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
		Token   string `json:"token_endpoint"`
	}
	json.Unmarshal([]byte(body(t, ts.client(t).get("/.well-known/oauth-authorization-server"))), &meta)
	if meta.Issuer != testPublicURL || meta.Token != testPublicURL+"/oauth/token" {
		t.Errorf("metadata %+v", meta)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body(t, ts.client(t).get("/.well-known/jwks.json"))), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks: %v", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatal("the JWKS holds a private key")
		}
	}
	parsed, err := jwt.ParseSigned(fresh.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in the JWKS", parsed.Headers[0].KeyID)
	}
	var claims token.Claims
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatal(err)
	}
	if err := claims.Validate(jwt.Expected{Issuer: meta.Issuer, AnyAudience: jwt.Audience{meta.Issuer}, Time: time.Now()}); err != nil || claims.ClientID != "go-oauth2" {
		t.Errorf("claims %+v: %v", claims, err)
	}
}

// CORS only for the configured origins.
func TestOAuthCORS(t *testing.T) {
	t.Parallel()
	ts, _ := newOAuthServer(t)
	c := ts.client(t)
	pre := func(origin string) *http.Response {
		return c.do(http.MethodOptions, "/oauth/token", nil, "Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	}
	if got := pre("https://app.example.test").Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.test" {
		t.Errorf("allowed origin: %q", got)
	}
	if got := pre("https://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin allowed: %q", got)
	}
	if got := c.do(http.MethodOptions, "/login", nil, "Origin", "https://app.example.test", "Access-Control-Request-Method", "POST").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS on /login: %q", got)
	}
	// A script on the allowed origin may POST (trusted by the CSRF check).
	resp := c.postForm("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"x"}, "password": {"y"}}, "Origin", "https://app.example.test", "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.test" {
		t.Errorf("cross-origin grant from the allowed origin: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	resp = c.postForm("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"x"}, "password": {"y"}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	wantStatus(t, resp, http.StatusForbidden)
}

// Redis down: a clear 503, never 500 nor a token.
func TestOAuthRedisDown(t *testing.T) {
	t.Parallel()
	ts, _ := newOAuthServer(t)
	ts.addUser(t, "jojo", "jo password")
	c := ts.client(t)
	tr := passwordGrant(t, c, "jojo", "jo password")
	ts.redis.Stop(t)
	for name, resp := range map[string]*http.Response{
		"password": c.postForm("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"jojo"}, "password": {"jo password"}}),
		"refresh":  c.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}),
		"me":       me(c, tr.AccessToken),
		"revoke":   c.postForm("/oauth/revoke", url.Values{"token": {tr.RefreshToken}}),
	} {
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s with Redis down: %d, want 503 with Retry-After", name, resp.StatusCode)
		}
	}
}

// T7 through the router: two instances on one database share keys; a
// token signed by one is accepted by the other.
func TestTwoInstancesShareKeys(t *testing.T) {
	t.Parallel()
	a, _ := newOAuthServer(t)
	b := a.sibling(t)
	a.addUser(t, "kim", "kim password")
	tr := passwordGrant(t, a.client(t), "kim", "kim password")
	wantStatus(t, me(b.client(t), tr.AccessToken), http.StatusOK)
	resp, r := refresh(t, b.client(t), tr.RefreshToken)
	wantStatus(t, resp, http.StatusOK)
	wantStatus(t, me(a.client(t), r.AccessToken), http.StatusOK)
}
