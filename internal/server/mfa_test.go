package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pquerna/otp/totp"

	"github.com/sessionauth/authd/internal/access"
	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/mfa"
)

// testClock is the clock of TOTP and step-up: real time plus an offset a
// test moves forward, so no test waits for a time step to pass.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func newMFAServer(t *testing.T, opts ...func(*testOptions)) (*testServer, *testClock) {
	t.Helper()
	clk := &testClock{}
	ts := newTestServer(t, append([]func(*testOptions){func(o *testOptions) { o.clock = clk.now }}, opts...)...)
	return ts, clk
}

var (
	secretRE   = regexp.MustCompile(`id="secret">([A-Z2-7 ]+)<`)
	recoveryRE = regexp.MustCompile(`<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>`)
)

// enrollTOTP sets up an authenticator app for c's user through the pages,
// as a person would: the secret read off the set-up page, the first code
// confirmed. It returns the secret and the recovery codes shown once.
func enrollTOTP(t *testing.T, c *client, clk *testClock) (string, []string) {
	t.Helper()
	wantStatus(t, c.postForm("/account/2fa/totp", nil), http.StatusSeeOther)
	page := body(t, c.get("/account/2fa/totp"))
	m := secretRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no secret on the set-up page:\n%s", page)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	qr := c.get("/account/2fa/totp/qr.png")
	if qr.StatusCode != http.StatusOK || qr.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("QR code: %d %s", qr.StatusCode, qr.Header.Get("Content-Type"))
	}
	resp := c.postForm("/account/2fa/totp/confirm", url.Values{"code": {totpCode(t, secret, clk.now())}})
	wantStatus(t, resp, http.StatusOK)
	var codes []string
	for _, m := range recoveryRE.FindAllStringSubmatch(body(t, resp), -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != mfa.RecoveryCodes {
		t.Fatalf("%d recovery codes shown after enrollment, want %d", len(codes), mfa.RecoveryCodes)
	}
	clk.advance(mfa.Period * time.Second) // the confirming code's step is spent
	return secret, codes
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolledUser returns an account with an authenticator app, and its secret
// and recovery codes; the client that enrolled it is signed out.
func enrolledUser(t *testing.T, ts *testServer, clk *testClock, name, pw string) (string, []string) {
	t.Helper()
	c := ts.signedIn(t, name, pw)
	secret, codes := enrollTOTP(t, c, clk)
	wantStatus(t, c.postForm("/logout", nil), http.StatusSeeOther)
	return secret, codes
}

// pendingClient has passed the password step of an account with a factor.
func pendingClient(t *testing.T, ts *testServer, name, pw string) *client {
	t.Helper()
	c := ts.client(t)
	resp := c.login(name, pw)
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/login/2fa" {
		t.Fatalf("password step of an account with a factor led to %q, want /login/2fa", loc)
	}
	return c
}

// M3 and M1 through the router: the password alone leaves the session
// pending (refused, short-lived, new token); the right code signs in
// under another new token; the same code does not work twice.
func TestTwoStepSignIn(t *testing.T) {
	t.Parallel()
	ts, clk := newMFAServer(t)
	secret, _ := enrolledUser(t, ts, clk, "alice", "correct horse 1")

	c := pendingClient(t, ts, "alice", "correct horse 1")
	pending := c.sessionCookie()
	if pending == "" {
		t.Fatal("no session cookie after the password step")
	}
	wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
	if loc := c.get("/account").Header.Get("Location"); !strings.HasPrefix(loc, "/login") {
		t.Fatalf("pending session on /account: sent to %q, want the sign-in page", loc)
	}
	// The pending record lives minutes, not the session lifetime.
	var ttl int64
	for _, k := range ts.sessionKeys(t) {
		n, err := ts.redis.Conn(t).Do("PTTL", k)
		if err != nil {
			t.Fatal(err)
		}
		ttl = max(ttl, n.(int64))
	}
	if ttl <= 0 || time.Duration(ttl)*time.Millisecond > 5*time.Minute {
		t.Fatalf("pending session expires in %v, want within 5 minutes", time.Duration(ttl)*time.Millisecond)
	}
	page := body(t, c.get("/login/2fa"))
	if !strings.Contains(page, `name="code"`) || !strings.Contains(page, `name="recovery_code"`) {
		t.Fatalf("second-step page lacks the code fields:\n%s", page)
	}

	code := totpCode(t, secret, clk.now())
	resp := c.postForm("/login/2fa", url.Values{"code": {code}})
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/account" {
		t.Fatalf("after the second step: sent to %q, want /account", loc)
	}
	final := c.sessionCookie()
	if final == "" || final == pending {
		t.Fatal("the token was not renewed after the second factor")
	}
	var me struct {
		User struct {
			AMR []string `json:"amr"`
		} `json:"user"`
	}
	if err := json.NewDecoder(c.get("/api/me").Body).Decode(&me); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(me.User.AMR, []string{"pwd", "otp"}) {
		t.Fatalf("amr %q, want [pwd otp]", me.User.AMR)
	}
	// The pending token died with the step.
	old := ts.client(t)
	old.setCookie(pending)
	wantStatus(t, old.get("/api/me"), http.StatusUnauthorized)
	wantStatus(t, old.postForm("/login/2fa", url.Values{"code": {code}}), http.StatusSeeOther) // to /login: nothing pending

	// M1: the same code, replayed by another sign-in within its window.
	d := pendingClient(t, ts, "alice", "correct horse 1")
	wantStatus(t, d.postForm("/login/2fa", url.Values{"code": {code}}, "Accept", "application/json"), http.StatusUnauthorized)
	wantStatus(t, d.get("/api/me"), http.StatusUnauthorized)

	// The sessions list says how each session signed in.
	page = body(t, c.get("/account/sessions"))
	if !strings.Contains(page, "with password and authenticator app") {
		t.Fatalf("sessions page does not say how the session signed in:\n%s", page)
	}
	ts.flushActivity(t)
	if page := body(t, c.get("/account/activity")); !strings.Contains(page, "Signed in with password and authenticator app") {
		t.Fatalf("activity lacks the two-step sign-in:\n%s", page)
	}
}

// JSON clients are told what the second step accepts and continue with
// the same cookie.
func TestTwoStepSignInJSON(t *testing.T) {
	t.Parallel()
	ts, clk := newMFAServer(t)
	secret, _ := enrolledUser(t, ts, clk, "bob", "correct horse 2")
	c := ts.client(t)
	b, _ := json.Marshal(map[string]string{"username": "bob", "password": "correct horse 2"})
	resp := c.do(http.MethodPost, "/login", strings.NewReader(string(b)), "Content-Type", "application/json")
	wantStatus(t, resp, http.StatusOK)
	var out struct {
		Required bool     `json:"second_factor_required"`
		Methods  []string `json:"methods"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !out.Required || !slices.Equal(out.Methods, []string{"totp", "recovery_code"}) {
		t.Fatalf("password step answered %+v, want second_factor_required with [totp recovery_code]", out)
	}
	wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
	b, _ = json.Marshal(map[string]string{"code": totpCode(t, secret, clk.now())})
	wantStatus(t, c.do(http.MethodPost, "/login/2fa", strings.NewReader(string(b)), "Content-Type", "application/json"), http.StatusOK)
	wantStatus(t, c.get("/api/me"), http.StatusOK)
}

// M3: a pending session is refused on every protected route, in HTML and
// JSON, and by forward authentication.
func TestPendingSessionRefusedEverywhere(t *testing.T) {
	t.Parallel()
	ts, clk := newMFAServer(t)
	enrolledUser(t, ts, clk, "carol", "correct horse 3")
	c := pendingClient(t, ts, "carol", "correct horse 3")

	router := ts.srv.Handler.(chi.Routes)
	walked := 0
	err := chi.Walk(router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if publicRoutes[method+" "+route] {
			return nil
		}
		walked++
		path := strings.ReplaceAll(route, "*", "x")
		if isVerifyRoute(route) {
			resp := c.get(path, "X-Forwarded-Proto", "http", "X-Forwarded-Host", "app1.example.test", "X-Forwarded-Uri", "/", "X-Forwarded-Method", "GET",
				"X-Original-URL", "http://app1.example.test/", "X-Original-Method", "GET")
			if resp.StatusCode != http.StatusUnauthorized {
				return errors.New(route + " let a pending session through: " + resp.Status)
			}
			return nil
		}
		for _, accept := range []string{"text/html", "application/json"} {
			resp := c.do(method, path, nil, "Accept", accept)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusSeeOther {
				return errors.New(method + " " + route + " served a pending session: " + resp.Status)
			}
			if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusSeeOther && !strings.HasPrefix(loc, "/login") {
				return errors.New(method + " " + route + " sent a pending session to " + loc)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if walked < 20 {
		t.Fatalf("walked %d protected routes; the router lost some", walked)
	}
	// Still pending: the walk neither ended nor completed it.
	if page := body(t, c.get("/login/2fa")); !strings.Contains(page, "Second Step") {
		t.Fatal("the pending session did not survive the walk")
	}
}

// M1: wrong codes are throttled per account like passwords; a right code
// during the lock fails too.
func TestSecondFactorThrottled(t *testing.T) {
	t.Parallel()
	ts, clk := newMFAServer(t, func(o *testOptions) { o.limits = Limits{AccountFailures: 3, Window: time.Minute} })
	secret, _ := enrolledUser(t, ts, clk, "dave", "correct horse 4")
	c := pendingClient(t, ts, "dave", "correct horse 4")
	wrong := "000000"
	if wrong == totpCode(t, secret, clk.now()) {
		wrong = "111111"
	}
	for i := range 3 {
		if resp := c.postForm("/login/2fa", url.Values{"code": {wrong}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := c.postForm("/login/2fa", url.Values{"code": {totpCode(t, secret, clk.now())}})
	wantStatus(t, resp, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The lock is the account's: another pending session of it is refused as well.
	d := pendingClient(t, ts, "dave", "correct horse 4")
	wantStatus(t, d.postForm("/login/2fa", url.Values{"recovery_code": {"aaaa-bbbb-cccc-dddd"}}), http.StatusTooManyRequests)
	wantStatus(t, d.get("/api/me"), http.StatusUnauthorized)
}

// M2 through the router: a recovery code signs in once, is an activity
// event, and the page says how many are left.
func TestRecoveryCodeSignIn(t *testing.T) {
	t.Parallel()
	ts, clk := newMFAServer(t)
	_, codes := enrolledUser(t, ts, clk, "erin", "correct horse 5")
	c := pendingClient(t, ts, "erin", "correct horse 5")
	wantStatus(t, c.postForm("/login/2fa", url.Values{"recovery_code": {strings.ToUpper(codes[0])}}), http.StatusSeeOther)
	wantStatus(t, c.get("/api/me"), http.StatusOK)
	if page := body(t, c.get("/account/2fa/recovery")); !strings.Contains(page, "9 of 10 recovery codes left") {
		t.Fatalf("recovery page does not say 9 left:\n%s", page)
	}
	ts.flushActivity(t)
	if page := body(t, c.get("/account/activity")); !strings.Contains(page, "Signed in with password and a recovery code") {
		t.Fatalf("activity lacks the recovery-code sign-in:\n%s", page)
	}
	d := pendingClient(t, ts, "erin", "correct horse 5")
	wantStatus(t, d.postForm("/login/2fa", url.Values{"recovery_code": {codes[0]}}), http.StatusUnauthorized)
	wantStatus(t, d.get("/api/me"), http.StatusUnauthorized)
	// Nothing of a code is stored in the clear.
	var n int
	if err := ts.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM mfa_recovery WHERE code_hash LIKE $1`, "%"+strings.ReplaceAll(codes[1], "-", "")+"%").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a recovery code is stored in the clear (%d rows, %v)", n, err)
	}
}

// M4: removing a factor, new recovery codes and ending all other sessions
// need a recent authentication; the user is asked again and returned to
// the action; removing the last factor returns the account to one step.
func TestStepUp(t *testing.T) {
	t.Parallel()
	ts, clk := newMFAServer(t)
	c := ts.signedIn(t, "frank", "correct horse 6")
	secret, _ := enrollTOTP(t, c, clk)
	// Fresh: allowed without asking.
	wantStatus(t, c.postForm("/account/2fa/recovery", nil), http.StatusOK)

	clk.advance(11 * time.Minute)
	// Adding a factor (a new way in) needs it too.
	if loc := c.postForm("/account/2fa/totp", nil).Header.Get("Location"); !strings.HasPrefix(loc, "/account/reauth") {
		t.Fatalf("stale session adding a factor: sent to %q, want the step-up page", loc)
	}
	wantStatus(t, c.do(http.MethodPost, "/account/passkeys/options", nil, "Accept", "application/json"), http.StatusForbidden)
	resp := c.postForm("/account/2fa/totp/remove", nil)
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/account/reauth?next=%2Faccount%2F2fa" {
		t.Fatalf("stale session removing a factor: sent to %q, want the step-up page", loc)
	}
	if f, _ := ts.mfa.Factors(context.Background(), 1); !f.TOTP {
		t.Fatal("the factor was removed without step-up")
	}
	wantStatus(t, c.postForm("/account/2fa/recovery", nil), http.StatusSeeOther)
	r := c.do(http.MethodPost, "/api/sessions/revoke-others", nil)
	wantStatus(t, r, http.StatusForbidden)
	if !strings.Contains(body(t, r), `"step_up_required":true`) {
		t.Fatal("JSON step-up answer lacks step_up_required")
	}

	page := body(t, c.get("/account/reauth?next=%2Faccount%2F2fa"))
	if !strings.Contains(page, "Confirm It Is You") {
		t.Fatalf("no step-up page:\n%s", page)
	}
	wantStatus(t, c.postForm("/account/reauth", url.Values{"password": {"wrong"}, "next": {"/account/2fa"}}), http.StatusUnauthorized)
	before := c.sessionCookie()
	resp = c.postForm("/account/reauth", url.Values{"password": {"correct horse 6"}, "next": {"/account/2fa"}})
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/account/2fa" {
		t.Fatalf("after step-up: sent to %q, want back to /account/2fa", loc)
	}
	if c.sessionCookie() == before {
		t.Error("step-up did not renew the token")
	}
	wantStatus(t, c.postForm("/account/2fa/totp/remove", nil), http.StatusSeeOther)
	f, err := ts.mfa.Factors(context.Background(), 1)
	if err != nil || f.Any() || f.RecoveryLeft != 0 {
		t.Fatalf("after removing the last factor: %+v, %v; want none and no recovery codes", f, err)
	}
	// One step again.
	d := ts.client(t)
	wantStatus(t, d.login("frank", "correct horse 6"), http.StatusSeeOther)
	wantStatus(t, d.get("/api/me"), http.StatusOK)

	// A TOTP code is a step-up too, once only.
	_ = secret
	secret, _ = enrollTOTP(t, d, clk)
	clk.advance(11 * time.Minute)
	code := totpCode(t, secret, clk.now())
	wantStatus(t, d.postForm("/account/reauth", url.Values{"code": {code}, "next": {"/account/2fa"}}), http.StatusSeeOther)
	clk.advance(11 * time.Minute)
	wantStatus(t, d.postForm("/account/reauth", url.Values{"code": {code}}), http.StatusUnauthorized)
}

// A password reset of an account with a second factor does not sign in
// by the mailbox alone: it leads to the second step.
func TestResetNeedsSecondFactor(t *testing.T) {
	t.Parallel()
	ts, clk := newMFAServer(t)
	enrolledUser(t, ts, clk, "gina", "correct horse 7")
	ctx := context.Background()
	u, err := ts.users.ByName(ctx, "gina")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.users.SetPendingEmail(ctx, u.ID, "gina@example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.users.ConfirmEmail(ctx, u.ID, "gina@example.test"); err != nil {
		t.Fatal(err)
	}
	if u, err = ts.users.ByID(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	tok, err := ts.tokens.Issue(context.Background(), emailtoken.Token{Purpose: emailtoken.Reset, UserID: u.ID, Address: "gina@example.test", Epoch: u.Epoch}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := ts.client(t)
	resp := c.postForm("/reset", url.Values{"token": {tok}, "new_password": {"brand new secret 7"}, "confirm_password": {"brand new secret 7"}})
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/login/2fa" {
		t.Fatalf("reset of an account with a factor led to %q, want /login/2fa", loc)
	}
	wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
}

// The OAuth password grant has no second step: it refuses an account with
// a second factor, saying so, and mints nothing.
func TestPasswordGrantRefusesSecondFactor(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	ts, _ := newOAuthServer(t, func(o *testOptions) { o.clock = clk.now })
	enrolledUser(t, ts, clk, "hank", "correct horse 8")
	c := ts.client(t)
	resp := c.postForm("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"hank"}, "password": {"correct horse 8"}, "client_id": {"cli"}})
	wantStatus(t, resp, http.StatusBadRequest)
	var out struct {
		Error    string   `json:"error"`
		Required bool     `json:"second_factor_required"`
		Access   string   `json:"access_token"`
		Methods  []string `json:"methods"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Error != "invalid_grant" || !out.Required || out.Access != "" || !slices.Contains(out.Methods, "totp") {
		t.Fatalf("password grant for an account with a factor: %+v", out)
	}
	// A wrong password still reads as a wrong password.
	resp = c.postForm("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"hank"}, "password": {"wrong"}, "client_id": {"cli"}})
	if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || strings.Contains(b, "second_factor") {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, b)
	}
}

// An access token minted from a session carries how it signed in (amr).
func TestAccessTokenAMR(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	ts, _ := newOAuthServer(t, func(o *testOptions) { o.clock = clk.now })
	secret, _ := enrolledUser(t, ts, clk, "ivy", "correct horse 9")
	c := pendingClient(t, ts, "ivy", "correct horse 9")
	wantStatus(t, c.postForm("/api/token", url.Values{"aud": {"https://api.example.test"}}), http.StatusUnauthorized) // pending: none
	wantStatus(t, c.postForm("/login/2fa", url.Values{"code": {totpCode(t, secret, clk.now())}}), http.StatusSeeOther)
	resp := c.postForm("/api/token", url.Values{"aud": {"https://api.example.test"}})
	wantStatus(t, resp, http.StatusOK)
	var tr tokenReply
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	claims, err := ts.issuer.Verify(context.Background(), tr.AccessToken, "https://api.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(claims.AMR, []string{"pwd", "otp"}) {
		t.Fatalf("amr claim %q, want [pwd otp]", claims.AMR)
	}
}

// Forward auth's two_factor policy: a password-only session is refused
// (403), one that signed in with its second factor is let through.
func TestForwardAuthTwoFactorPolicy(t *testing.T) {
	t.Parallel()
	ts, clk := newMFAServer(t)
	rs, err := access.Parse("rules.yaml", []byte("rules:\n  - domain: vault.example.test\n    policy: two_factor\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts.guard.SetRules(rs)
	plain := ts.signedIn(t, "jill", "correct horse 10")
	secret, _ := enrolledUser(t, ts, clk, "kate", "correct horse 11")
	strong := pendingClient(t, ts, "kate", "correct horse 11")
	wantStatus(t, strong.verify("request", "GET", "http://vault.example.test/"), http.StatusUnauthorized) // pending
	wantStatus(t, strong.postForm("/login/2fa", url.Values{"code": {totpCode(t, secret, clk.now())}}), http.StatusSeeOther)
	for _, ep := range endpoints {
		wantStatus(t, plain.verify(ep, "GET", "http://vault.example.test/"), http.StatusForbidden)
		wantStatus(t, strong.verify(ep, "GET", "http://vault.example.test/"), http.StatusOK)
	}
}

// A JSON client sets up an authenticator app: the secret and its otpauth
// URL, then the first code, answered with the recovery codes.
func TestTOTPEnrollmentJSON(t *testing.T) {
	t.Parallel()
	ts, clk := newMFAServer(t)
	c := ts.signedIn(t, "lena", "correct horse 12")
	resp := c.do(http.MethodPost, "/api/2fa/totp", nil)
	wantStatus(t, resp, http.StatusCreated)
	var begin struct {
		Secret string `json:"secret"`
		URL    string `json:"otpauth_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&begin); err != nil {
		t.Fatal(err)
	}
	if begin.Secret == "" || !strings.HasPrefix(begin.URL, "otpauth://totp/") || !strings.Contains(begin.URL, "secret="+begin.Secret) {
		t.Fatalf("enrollment answer %+v", begin)
	}
	b, _ := json.Marshal(map[string]string{"code": "not a code"})
	wantStatus(t, c.do(http.MethodPost, "/api/2fa/totp/confirm", strings.NewReader(string(b)), "Content-Type", "application/json"), http.StatusUnprocessableEntity)
	b, _ = json.Marshal(map[string]string{"code": totpCode(t, begin.Secret, clk.now())})
	resp = c.do(http.MethodPost, "/api/2fa/totp/confirm", strings.NewReader(string(b)), "Content-Type", "application/json")
	wantStatus(t, resp, http.StatusOK)
	var done struct {
		Codes []string `json:"recovery_codes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&done); err != nil || len(done.Codes) != mfa.RecoveryCodes {
		t.Fatalf("confirmation answer: %+v, %v", done, err)
	}
	// Set up already: a second one is refused until this one is removed.
	wantStatus(t, c.do(http.MethodPost, "/api/2fa/totp", nil), http.StatusConflict)
	var f struct {
		TOTP bool `json:"totp"`
		Left int  `json:"recovery_codes_left"`
	}
	if err := json.NewDecoder(c.get("/api/2fa").Body).Decode(&f); err != nil || !f.TOTP || f.Left != 10 {
		t.Fatalf("/api/2fa: %+v, %v", f, err)
	}
}
