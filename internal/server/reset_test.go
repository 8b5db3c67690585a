package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/testenv"
)

// R1, R3: the whole reset through the router, with a real SMTP server and
// two server instances.
func TestPasswordResetEndToEnd(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	ts := newTestServer(t)
	ts.startMail(t, smtp)
	sib := ts.sibling(t)
	ts.confirmedUser(t, "alice", "old password one", "Alice@Example.com")

	// Sessions on both instances.
	one, two := ts.client(t), sib.client(t)
	wantStatus(t, one.login("alice", "old password one"), http.StatusSeeOther)
	wantStatus(t, two.login("alice", "old password one"), http.StatusSeeOther)

	browser := sib.client(t)
	resp := browser.forgot("ALICE")
	wantStatus(t, resp, http.StatusOK)
	if !strings.Contains(body(t, resp), "on its way") {
		t.Fatal("forgot page does not say the link is on its way")
	}
	m := waitMail(t, smtp, "Alice@Example.com", "Reset your password")
	if m.Subject != "Reset your password for alice" || m.Header.Get("To") != "<Alice@Example.com>" {
		t.Fatalf("mail subject %q to %q", m.Subject, m.Header.Get("To"))
	}
	token := linkIn(t, m, "/reset") // on PUBLIC_URL, not the request's Host (evil.example)

	// Only the token's hash is stored; the outbox never held the token.
	for _, q := range []string{`SELECT token_hash || address FROM email_tokens`, `SELECT payload FROM mail_outbox`} {
		rows, err := ts.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			rows.Scan(&v)
			if strings.Contains(v, token) {
				t.Fatalf("%s holds the token", q)
			}
		}
		rows.Close()
	}

	resp = browser.get("/reset?token=" + token)
	wantStatus(t, resp, http.StatusOK)
	if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("reset page Referrer-Policy %q, want no-referrer", rp)
	}
	if page := body(t, resp); !strings.Contains(page, `value="`+token+`"`) || !strings.Contains(page, "alice") {
		t.Fatal("reset page lacks the form for alice")
	}

	// A common password is refused (R4) and the link still works after.
	resp = browser.postForm("/reset", url.Values{"token": {token}, "new_password": {"password1"}, "confirm_password": {"password1"}})
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if !strings.Contains(body(t, resp), "most common passwords") {
		t.Fatal("no clear message for a common password")
	}
	resp = browser.postForm("/reset", url.Values{"token": {token}, "new_password": {"brand new secret"}, "confirm_password": {"brand new secret"}})
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/account" {
		t.Fatalf("after reset: Location %q", loc)
	}
	// This browser is signed in as alice; every earlier session, on both
	// instances, has ended.
	resp = browser.get("/api/me")
	wantStatus(t, resp, http.StatusOK)
	if !strings.Contains(body(t, resp), `"name":"alice"`) {
		t.Fatal("browser not signed in as alice after the reset")
	}
	wantStatus(t, one.get("/api/me"), http.StatusUnauthorized)
	wantStatus(t, two.get("/api/me"), http.StatusUnauthorized)
	// Single use.
	wantStatus(t, ts.client(t).postForm("/reset", url.Values{"token": {token}, "new_password": {"another new secret"}}), http.StatusBadRequest)
	wantStatus(t, ts.client(t).get("/reset?token="+token), http.StatusBadRequest)
	// The password is the new one.
	wantStatus(t, ts.client(t).login("alice", "old password one"), http.StatusUnauthorized)
	wantStatus(t, ts.client(t).login("alice", "brand new secret"), http.StatusSeeOther)

	// The user is told (R3), at the confirmed address.
	n := waitMail(t, smtp, "Alice@Example.com", "Your password was reset")
	if !strings.Contains(n.Text, "signed out") {
		t.Fatalf("notice text:\n%s", n.Text)
	}
	if !strings.Contains(sib.logs.String(), "event=password_reset outcome=success") {
		t.Fatal("no audit line for the reset")
	}
	resp = browser.get("/api/activity")
	if !strings.Contains(body(t, resp), `"kind":"password_reset"`) {
		t.Fatal("reset not in the account activity")
	}
}

// mutableClock is a clock a test moves.
type mutableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *mutableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *mutableClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// R1: what makes a reset token unusable.
func TestResetTokenRules(t *testing.T) {
	clk := &mutableClock{now: time.Now()}
	ts := newTestServer(t, func(o *testOptions) { o.now = clk.Now })
	alice := ts.confirmedUser(t, "alice", "alice password", "alice@example.com")
	bob := ts.confirmedUser(t, "bob", "bob password one", "bob@example.com")
	ctx := context.Background()
	issue := func(u int64, addr string, epoch int64, p emailtoken.Purpose) string {
		t.Helper()
		tok, err := ts.tokens.Issue(ctx, emailtoken.Token{Purpose: p, UserID: u, Address: addr, Epoch: epoch}, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	reset := func(c *client, token, pw string) *http.Response {
		return c.postForm("/reset", url.Values{"token": {token}, "new_password": {pw}}, "Accept", "application/json")
	}

	// Wrong, malformed and empty tokens: one answer.
	var bodies []string
	for _, bad := range []string{"", "nope", strings.Repeat("A", 43), "%00", issue(alice.ID, alice.Email, alice.Epoch, emailtoken.Verify)} {
		resp := reset(ts.client(t), bad, "a new password here")
		wantStatus(t, resp, http.StatusBadRequest)
		bodies = append(bodies, body(t, resp))
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Fatalf("bad tokens answered differently: %s vs %s", b, bodies[0])
		}
	}

	// Expired: 30 minutes later it no longer works.
	tok := issue(alice.ID, alice.Email, alice.Epoch, emailtoken.Reset)
	clk.add(30*time.Minute + time.Second)
	wantStatus(t, reset(ts.client(t), tok, "a new password here"), http.StatusBadRequest)
	wantStatus(t, ts.client(t).login("alice", "alice password"), http.StatusSeeOther)

	// A token for another account changes that account only, whoever is
	// signed in: bob's session submitting alice's token resets alice, and
	// the browser ends up as alice, not bob.
	tok = issue(alice.ID, alice.Email, alice.Epoch, emailtoken.Reset)
	bobsBrowser := ts.client(t)
	wantStatus(t, bobsBrowser.login("bob", "bob password one"), http.StatusSeeOther)
	resp := bobsBrowser.postForm("/reset", url.Values{"token": {tok}, "new_password": {"alice has a new one"}, "username": {"bob"}}, "Accept", "application/json")
	wantStatus(t, resp, http.StatusOK)
	var got struct {
		Reset bool `json:"password_reset"`
		User  struct {
			Name string `json:"name"`
		} `json:"user"`
	}
	json.NewDecoder(resp.Body).Decode(&got)
	if !got.Reset || got.User.Name != "alice" {
		t.Fatalf("reset answered %+v", got)
	}
	wantStatus(t, ts.client(t).login("bob", "bob password one"), http.StatusSeeOther)
	wantStatus(t, ts.client(t).login("alice", "alice has a new one"), http.StatusSeeOther)

	// A password change kills a token issued before it (credential epoch).
	bob, _ = ts.users.ByID(ctx, bob.ID)
	tok = issue(bob.ID, bob.Email, bob.Epoch, emailtoken.Reset)
	c := ts.client(t)
	wantStatus(t, c.login("bob", "bob password one"), http.StatusSeeOther)
	wantStatus(t, c.postForm("/api/password", url.Values{"current_password": {"bob password one"}, "new_password": {"bob password two"}}), http.StatusOK)
	wantStatus(t, reset(ts.client(t), tok, "a new password here"), http.StatusBadRequest)

	// So does an address change: a link sent to the old address dies.
	bob, _ = ts.users.ByID(ctx, bob.ID)
	tok = issue(bob.ID, bob.Email, bob.Epoch, emailtoken.Reset)
	if err := ts.users.SetPendingEmail(ctx, bob.ID, "bob@new.example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.users.ConfirmEmail(ctx, bob.ID, "bob@new.example.com"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, reset(ts.client(t), tok, "a new password here"), http.StatusBadRequest)
	wantStatus(t, ts.client(t).login("bob", "bob password two"), http.StatusSeeOther)
}

// R2: known and unknown names and addresses get the same answer, after the
// same work, and the request never waits for the mail server.
func TestForgotAnswersAlike(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	ts := newTestServer(t)
	ts.startMail(t, smtp)
	ts.confirmedUser(t, "alice", "alice password", "alice@example.com")
	pending := ts.addUser(t, "carol", "carol password")
	if err := ts.users.SetPendingEmail(context.Background(), pending.ID, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	ts.addUser(t, "dave", "dave password") // no address at all

	// The mail server holds every message: a request that waited for it
	// would not answer until the end of the test.
	smtp.Stall()
	logins := []string{"alice", "alice@example.com", "ALICE@EXAMPLE.COM", "nobody", "nobody@example.com", "carol", "carol@example.com", "dave"}
	for _, accept := range []string{"text/html", "application/json"} {
		var first string
		for _, login := range logins {
			resp := ts.client(t).forgot(login, "Accept", accept)
			wantStatus(t, resp, http.StatusOK)
			b := strings.ReplaceAll(body(t, resp), echo(login), "LOGIN")
			if first == "" {
				first = b
			} else if b != first {
				t.Fatalf("%s: %q answered differently:\n%s\n---\n%s", accept, login, b, first)
			}
		}
	}

	// Comparable time: the known path does no more work on the request
	// than the unknown one (one lookup, the throttle scripts, one insert),
	// so neither is a multiple of the other. Loose, as timings are on a
	// shared machine: best of several, interleaved.
	best := map[string]time.Duration{"alice": time.Hour, "nobody": time.Hour}
	for range 7 {
		for _, login := range []string{"alice", "nobody"} {
			start := time.Now()
			wantStatus(t, ts.client(t).forgot(login), http.StatusOK)
			best[login] = min(best[login], time.Since(start))
		}
	}
	known, unknown := best["alice"], best["nobody"]
	if known > 3*unknown+20*time.Millisecond || unknown > 3*known+20*time.Millisecond {
		t.Fatalf("known account answered in %v, unknown in %v: not comparable", known, unknown)
	}

	// Only the confirmed address gets mail: 3 requests named alice in each
	// of the two loops, plus the 7 timed ones.
	smtp.Release()
	ts.waitOutboxEmpty(t)
	mails := smtp.Mails()
	if got := len(mailsTo(mails, "alice@example.com", "Reset your password")); got != 13 {
		t.Fatalf("%d reset mails to alice, want 13", got)
	}
	if len(mails) != 13 {
		for _, m := range mails {
			t.Logf("mail to %q: %s", m.To, m.Subject)
		}
		t.Fatalf("%d mails in all, want only alice's 13 (none to a pending address)", len(mails))
	}
}

// R2: throttled per address and per account, silently (the answer is the
// usual one, nothing is sent); per client address with 429.
func TestForgotThrottle(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	ts := newTestServer(t, func(o *testOptions) {
		o.limits = Limits{ResetRequests: 2, ResetClients: 6, Window: time.Hour}
	})
	ts.startMail(t, smtp)
	ts.confirmedUser(t, "alice", "alice password", "alice@example.com")
	c := ts.client(t)
	var first string
	// Name, address, name: one account, so the third is over its limit.
	for _, login := range []string{"alice", "alice@example.com", "Alice"} {
		resp := c.forgot(login, "Accept", "application/json")
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); first == "" {
			first = b
		} else if b != first {
			t.Fatalf("throttled request answered differently: %s", b)
		}
	}
	ts.waitOutboxEmpty(t)
	if n := len(mailsTo(smtp.Mails(), "alice@example.com", "Reset")); n != 2 {
		t.Fatalf("%d reset mails, want 2 (the limit per account)", n)
	}
	if !strings.Contains(ts.logs.String(), "event=password_reset_request outcome=throttled") {
		t.Fatal("no audit line for the throttled request")
	}
	// Unknown logins count the same way, so they look the same.
	for range 3 {
		wantStatus(t, c.forgot("nobody"), http.StatusOK)
	}
	// The sixth request from this client was the last one allowed.
	resp := c.forgot("someone-else", "Accept", "application/json")
	wantStatus(t, resp, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// The mail server down: sign-in and "forgot password" answer as usual, and
// the mails go out once it is back.
func TestMailServerDown(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	ts := newTestServer(t)
	ts.startMail(t, smtp)
	ts.confirmedUser(t, "alice", "alice password", "alice@example.com")
	smtp.Stop()

	c := ts.client(t)
	wantStatus(t, c.login("alice", "alice password"), http.StatusSeeOther) // a new device: notice queued
	wantStatus(t, c.get("/account"), http.StatusOK)
	wantStatus(t, ts.client(t).forgot("alice"), http.StatusOK)
	wantStatus(t, ts.client(t).get("/forgot"), http.StatusOK)
	// The worker is failing meanwhile, and says so.
	deadline := time.Now().Add(mailWait)
	for !strings.Contains(ts.logs.String(), "mail not delivered; will retry") {
		if time.Now().After(deadline) {
			t.Fatal("no failed delivery logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	smtp.Start(t)
	waitMail(t, smtp, "alice@example.com", "Reset your password")
	waitMail(t, smtp, "alice@example.com", "New sign-in")
	ts.waitOutboxEmpty(t)
}
