package server

import (
	"encoding/json"
	"net/http"
	"net/url"
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
