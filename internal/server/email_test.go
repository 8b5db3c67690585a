package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sessionauth/authd/internal/notice"
	"github.com/sessionauth/authd/internal/testenv"
)

func (c *client) email() emailJSON {
	c.t.Helper()
	resp := c.get("/api/email")
	wantStatus(c.t, resp, http.StatusOK)
	var e emailJSON
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		c.t.Fatal(err)
	}
	return e
}

// R1: an address is confirmed by a single-use link before it is used, and
// changing it needs the password and tells the old address.
func TestEmailAddressLifecycle(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	ts := newTestServer(t)
	ts.startMail(t, smtp)
	c := ts.client(t)

	// Sign-up with an address: pending until confirmed.
	resp := c.postForm("/signup", url.Values{"username": {"alice"}, "password": {"alice password"}, "email": {"alice@example.com"}})
	wantStatus(t, resp, http.StatusSeeOther)
	if e := c.email(); e.Email != "" || e.Pending != "alice@example.com" {
		t.Fatalf("after sign-up: %+v, want only a pending address", e)
	}
	m := waitMail(t, smtp, "alice@example.com", "Confirm your e-mail address")
	token := linkIn(t, m, "/email/verify")

	// Opening the link changes nothing (mail scanners open links).
	other := ts.client(t)
	resp = other.get("/email/verify?token=" + token)
	wantStatus(t, resp, http.StatusOK)
	if page := body(t, resp); !strings.Contains(page, "alice@example.com") || !strings.Contains(page, `action="/email/verify"`) {
		t.Fatal("verify page lacks the address and its button")
	}
	if e := c.email(); e.Email != "" {
		t.Fatal("opening the link confirmed the address")
	}
	wantStatus(t, other.postForm("/email/verify", url.Values{"token": {token}}), http.StatusOK)
	if e := c.email(); e.Email != "alice@example.com" || e.Pending != "" {
		t.Fatalf("after confirming: %+v", e)
	}
	// Single use.
	wantStatus(t, other.postForm("/email/verify", url.Values{"token": {token}}), http.StatusBadRequest)

	// Changing it needs the current password.
	resp = c.postForm("/api/email", url.Values{"email": {"alice@new.example.com"}, "current_password": {"wrong password"}})
	wantStatus(t, resp, http.StatusUnauthorized)
	if e := c.email(); e.Pending != "" {
		t.Fatal("a wrong password set a pending address")
	}
	wantStatus(t, c.postForm("/api/email", url.Values{"email": {"alice@new.example.com"}}), http.StatusUnprocessableEntity)
	resp = c.postForm("/api/email", url.Values{"email": {"alice@new.example.com"}, "current_password": {"alice password"}})
	wantStatus(t, resp, http.StatusOK)
	if e := c.email(); e.Email != "alice@example.com" || e.Pending != "alice@new.example.com" {
		t.Fatalf("after asking for a change: %+v (the old address stays until confirmed)", e)
	}
	// Until then, reset links still go to the confirmed address only.
	wantStatus(t, ts.client(t).forgot("alice"), http.StatusOK)
	waitMail(t, smtp, "alice@example.com", "Reset your password")

	token = linkIn(t, waitMail(t, smtp, "alice@new.example.com", "Confirm your e-mail address"), "/email/verify")
	wantStatus(t, ts.client(t).postForm("/email/verify", url.Values{"token": {token}}), http.StatusOK)
	if e := c.email(); e.Email != "alice@new.example.com" {
		t.Fatalf("after confirming the change: %+v", e)
	}
	// The old address is told.
	n := waitMail(t, smtp, "alice@example.com", "The e-mail address of alice was changed")
	if !strings.Contains(n.Text, "alice@new.example.com") {
		t.Fatalf("notice to the old address:\n%s", n.Text)
	}
	if !strings.Contains(ts.logs.String(), "event=email_confirm outcome=success") {
		t.Fatal("no audit line for the confirmation")
	}

	// Removing it tells the removed address too.
	wantStatus(t, c.postForm("/api/email", url.Values{"email": {""}, "current_password": {"alice password"}}), http.StatusOK)
	if e := c.email(); e.Email != "" || e.Pending != "" {
		t.Fatalf("after removing: %+v", e)
	}
	waitMail(t, smtp, "alice@new.example.com", "The e-mail address of alice was changed")

	// Bad addresses get a clear 422, never a 500.
	for _, bad := range []string{"not an address", "a@b", "Alice <alice@example.com>", strings.Repeat("a", 250) + "@example.com", "a\x00@example.com", "\xff@example.com"} {
		resp := c.postForm("/api/email", url.Values{"email": {bad}, "current_password": {"alice password"}})
		wantStatus(t, resp, http.StatusUnprocessableEntity)
	}
	resp = c.postForm("/signup", url.Values{"username": {"bob"}, "password": {"bob password"}, "email": {"bob"}}, "Accept", "application/json")
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if !strings.Contains(body(t, resp), `"email"`) {
		t.Fatal("sign-up with a bad address does not name the field")
	}
}

// Addresses are unique regardless of case, without telling a stranger who
// owns one: the answer is the usual one, and the owner is warned by mail.
func TestEmailUniqueRegardlessOfCase(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	ts := newTestServer(t)
	ts.startMail(t, smtp)
	ts.confirmedUser(t, "alice", "alice password", "alice@example.com")
	mallory := ts.signedIn(t, "mallory", "mallory password")
	resp := mallory.postForm("/api/email", url.Values{"email": {"ALICE@Example.COM"}, "current_password": {"mallory password"}})
	wantStatus(t, resp, http.StatusOK)
	m := waitMail(t, smtp, "ALICE@Example.COM", "Your e-mail address already has an account")
	if linkRE.MatchString(m.Text) {
		t.Fatal("the warning carries a confirmation link")
	}
	// Even a confirmation link (issued before alice took the address, say)
	// cannot give mallory the address.
	mu, _ := ts.users.ByName(t.Context(), "mallory")
	if _, err := ts.users.ConfirmEmail(t.Context(), mu.ID, "ALICE@Example.COM"); err == nil {
		t.Fatal("two accounts confirmed one address")
	}
	if e := mallory.email(); e.Email != "" {
		t.Fatalf("mallory got %q", e.Email)
	}
}

// New-device notices: a sign-in from a browser, system or address family
// the account has not signed in from recently; versions do not count.
func TestNewDeviceNotice(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	ts := newTestServer(t)
	ts.startMail(t, smtp)
	ts.confirmedUser(t, "alice", "alice password", "alice@example.com")
	signIn := func(ua string) {
		t.Helper()
		wantStatus(t, ts.client(t).login("alice", "alice password", "User-Agent", ua), http.StatusSeeOther)
	}
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	signIn(firefox)
	m := waitMail(t, smtp, "alice@example.com", "New sign-in to alice")
	if !strings.Contains(m.Text, "Firefox on Linux") || !strings.Contains(m.Text, "127.0.0.1") {
		t.Fatalf("notice lacks the device:\n%s", m.Text)
	}
	signIn(strings.ReplaceAll(firefox, "140.0", "141.0")) // an update: the same device
	signIn("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
	ts.waitOutboxEmpty(t)
	got := mailsTo(smtp.Mails(), "alice@example.com", "New sign-in")
	if len(got) != 2 || !strings.Contains(got[1].Text, "Chrome on Windows") {
		t.Fatalf("%d new-device notices, want 2 (Firefox, then Chrome)", len(got))
	}
	// A password change tells the user too.
	c := ts.client(t)
	wantStatus(t, c.login("alice", "alice password", "User-Agent", firefox), http.StatusSeeOther)
	wantStatus(t, c.postForm("/api/password", url.Values{"current_password": {"alice password"}, "new_password": {"alice password two"}}), http.StatusOK)
	waitMail(t, smtp, "alice@example.com", "Your password was changed")
}

// Each notice can be turned off by the operator.
func TestNoticesOff(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	ts := newTestServer(t, func(o *testOptions) { o.notices = &notice.Config{} })
	ts.startMail(t, smtp)
	ts.confirmedUser(t, "alice", "alice password", "alice@example.com")
	c := ts.client(t)
	wantStatus(t, c.login("alice", "alice password", "User-Agent", "curl/8.0"), http.StatusSeeOther)
	wantStatus(t, c.postForm("/api/password", url.Values{"current_password": {"alice password"}, "new_password": {"alice password two"}}), http.StatusOK)
	// A reset mail is not optional: it marks the end of the queue.
	wantStatus(t, ts.client(t).forgot("alice"), http.StatusOK)
	waitMail(t, smtp, "alice@example.com", "Reset your password")
	ts.waitOutboxEmpty(t)
	if n := len(smtp.Mails()); n != 1 {
		for _, m := range smtp.Mails() {
			t.Logf("%s", m.Subject)
		}
		t.Fatalf("%d mails with the notices off, want only the reset link", n)
	}
}

// D2 for the mail forms: awkward values in every field get a clear answer,
// never a 5xx, and change no address or token.
func TestHostileInputInMailForms(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.confirmedUser(t, "alice", "password one", "alice@example.com")
	c := ts.signedIn(t, "bob", "password two")
	values := []string{
		"", " ", strings.Repeat("x", 10000), "\xff\xfe", "a\x00b", "\r\n\t", "'; DROP TABLE users; --",
		"alice@example.com' OR '1'='1", "<script>alert(1)</script>", "%00", "\u202e\u200b", "🙂@🙂.🙂",
	}
	check := func(what string, resp *http.Response, ok ...int) {
		t.Helper()
		if resp.StatusCode >= 500 || (resp.StatusCode < 400 && !slices.Contains(ok, resp.StatusCode)) {
			t.Errorf("%s: status %d", what, resp.StatusCode)
		}
		if strings.Contains(body(t, resp), "<script>alert") {
			t.Errorf("%s echoed markup unescaped", what)
		}
	}
	for i, v := range values {
		accept := []string{"text/html", "application/json"}[i%2]
		// "Forgot password" answers anything non-empty as usual.
		check("forgot "+v, ts.client(t).postForm("/forgot", url.Values{"login": {v}}, "Accept", accept), http.StatusOK)
		check("reset token", ts.client(t).postForm("/reset", url.Values{"token": {v}, "new_password": {"a good new password"}}, "Accept", accept))
		check("reset page", ts.client(t).get("/reset?token="+url.QueryEscape(v), "Accept", accept))
		check("verify token", ts.client(t).postForm("/email/verify", url.Values{"token": {v}}, "Accept", accept))
		check("verify page", ts.client(t).get("/email/verify?token="+url.QueryEscape(v), "Accept", accept))
		// Without the password the address is still checked (and echoed),
		// and no bcrypt runs: this test is about the fields.
		check("email", c.postForm("/account/email", url.Values{"email": {v}}, "Accept", accept))
		check("email password", c.postForm("/account/email", url.Values{"email": {"bob@example.com"}, "current_password": {v}}, "Accept", accept))
		check("sign-up email", ts.client(t).postForm("/signup", url.Values{"username": {"nobody"}, "password": {"short"}, "email": {v}}, "Accept", accept))
	}
	a, _ := ts.users.ByID(t.Context(), alice.ID)
	b, _ := ts.users.ByName(t.Context(), "bob")
	if a.Email != "alice@example.com" || a.EmailPending != "" || b.Email != "" || b.EmailPending != "" {
		t.Fatalf("addresses changed: alice %q/%q, bob %q/%q", a.Email, a.EmailPending, b.Email, b.EmailPending)
	}
	var tokens int
	if err := ts.db.QueryRow(`SELECT COUNT(*) FROM email_tokens`).Scan(&tokens); err != nil || tokens != 0 {
		t.Fatalf("%d tokens (%v), want none", tokens, err)
	}
}

// D3: with the database down, "forgot password" answers 503, the same
// for a known and an unknown account.
func TestForgotDatabaseDown(t *testing.T) {
	ts := newTestServer(t)
	ts.confirmedUser(t, "alice", "password one", "alice@example.com")
	ts.db.Close()
	known := ts.client(t).forgot("alice", "Accept", "application/json")
	unknown := ts.client(t).forgot("nobody", "Accept", "application/json")
	wantStatus(t, known, http.StatusServiceUnavailable)
	wantStatus(t, unknown, http.StatusServiceUnavailable)
	if kb, ub := body(t, known), body(t, unknown); kb != ub {
		t.Fatalf("bodies differ with the database down: %s / %s", kb, ub)
	}
}
