package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/device"
)

// deviceCookie returns the device token the jar holds, or "".
func (c *client) deviceCookie() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == device.CookieName {
			return ck.Value
		}
	}
	return ""
}

// jsonLogin signs in as a JSON client and returns the answer and the device
// token it carries.
func (c *client) jsonLogin(name, pw string, header ...string) (*http.Response, string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"username": name, "password": pw})
	resp := c.do(http.MethodPost, "/login", strings.NewReader(string(b)), append([]string{"Content-Type", "application/json"}, header...)...)
	if resp.StatusCode != http.StatusOK {
		return resp, ""
	}
	var out struct {
		DeviceToken string `json:"device_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatal(err)
	}
	return resp, out.DeviceToken
}

// activityCounts sums the activity's counts by kind and counts its rows.
func (c *client) activityCounts() (counts, rows map[string]int) {
	c.t.Helper()
	resp := c.get("/api/activity")
	wantStatus(c.t, resp, http.StatusOK)
	var out struct {
		Activity []struct {
			Kind  string `json:"kind"`
			Count int    `json:"count"`
		} `json:"activity"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatal(err)
	}
	counts, rows = map[string]int{}, map[string]int{}
	for _, e := range out.Activity {
		counts[e.Kind] += e.Count
		rows[e.Kind]++
	}
	return counts, rows
}

// B4: an attacker keeps the account locked, from ever new addresses, while
// the owner, from a browser and an API client that signed in before, signs
// in and changes the password. Strangers stay locked out throughout, and the
// owner sees their attempts, collapsed.
func TestStrangersCannotLockOutTheOwner(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *testOptions) {
		o.limits = Limits{AccountFailures: 3, AddrFailures: 5, DeviceFailures: 3, Window: time.Minute}
		o.proxies = []string{"127.0.0.1"}
	})
	ts.addUser(t, "alice", "password one")

	// The owner's browser signed in before, and signed out: its device
	// cookie outlives the session (a browser would drop it on
	// Clear-Site-Data "cookies", so that is not sent).
	owner := ts.client(t)
	wantStatus(t, owner.login("alice", "password one"), http.StatusSeeOther)
	resp := owner.postForm("/logout", nil)
	wantStatus(t, resp, http.StatusSeeOther)
	if csd := resp.Header.Get("Clear-Site-Data"); strings.Contains(csd, "cookies") {
		t.Fatalf("sign-out sends Clear-Site-Data %s: browsers would drop the device cookie", csd)
	}
	if owner.deviceCookie() == "" {
		t.Fatal("sign-in set no device cookie, or sign-out cleared it")
	}
	// The owner's API client signed in before too, and kept the token.
	_, apiToken := ts.client(t).jsonLogin("alice", "password one")
	if apiToken == "" {
		t.Fatal("the JSON sign-in answer has no device_token")
	}

	// The attacker locks the account, and keeps sending guesses from new
	// addresses, so that no address limit stops them either.
	next := 0
	refused := 0 // strangers' attempts refused during the lock
	attack := func(pw string) int {
		t.Helper()
		next++
		resp := ts.client(t).login("alice", pw, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", next))
		if resp.StatusCode == http.StatusTooManyRequests {
			refused++
		}
		return resp.StatusCode
	}
	for i := range 3 {
		if got := attack(cheapWrong + fmt.Sprint(i)); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i, got)
		}
	}
	keepLocked := func(when string, n int) {
		t.Helper()
		for range n {
			if got := attack("another guess"); got != http.StatusTooManyRequests {
				t.Fatalf("%s: a stranger's attempt got %d, want 429: the lock must hold for strangers", when, got)
			}
		}
	}
	keepLocked("after the lock", 3)

	// A device that never signed in is a stranger, even with the right
	// password.
	if got := attack("password one"); got != http.StatusTooManyRequests {
		t.Fatalf("the right password from a new device during the lock: status %d, want 429", got)
	}

	// The owner's browser signs in, from an address the attacker used.
	resp = owner.login("alice", "password one", "X-Forwarded-For", "203.0.113.1")
	wantStatus(t, resp, http.StatusSeeOther)
	wantStatus(t, owner.get("/api/me"), http.StatusOK)
	keepLocked("after the owner signed in", 3)

	// A wrong current password is the session's own failure (401), not a
	// lock (429); then the change goes through.
	for range 2 {
		resp := owner.postForm("/account/password", url.Values{"current_password": {cheapWrong}, "new_password": {"password two"}})
		wantStatus(t, resp, http.StatusUnauthorized)
	}
	keepLocked("during the password change", 3)
	resp = owner.postForm("/account/password", url.Values{"current_password": {"password one"}, "new_password": {"password two"}})
	wantStatus(t, resp, http.StatusSeeOther) // back to the account page, with a notice
	wantStatus(t, owner.get("/api/me"), http.StatusOK)

	// The API client's token works from a fresh client, in the header.
	resp, _ = ts.client(t).jsonLogin("alice", "password two", device.Header, apiToken)
	wantStatus(t, resp, http.StatusOK)

	// Strangers are still locked out, the new password notwithstanding.
	keepLocked("after the change", 40)
	if got := attack("password two"); got != http.StatusTooManyRequests {
		t.Fatalf("the new password from a new device during the lock: status %d, want 429", got)
	}

	// The owner sees every stranger's attempt, one row per run of them
	// (between the owner's own events), however long the run: the last
	// one's 41 attempts take one row, and push nothing out of the window.
	counts, rows := owner.activityCounts()
	if counts["sign_in_failed"] != 3 || counts["sign_in_throttled"] != refused {
		t.Errorf("activity counts %v, want 3 failed and %d refused sign-ins", counts, refused)
	}
	if rows["sign_in_failed"] != 1 || rows["sign_in_throttled"] != 4 || rows["sign_in"] != 4 || rows["password_changed"] != 1 {
		t.Errorf("activity rows %v: want strangers' attempts in one row per run (1 failed, 4 refused), the owner's 4 sign-ins and one password change (which renews the session without a sign-in of its own)", rows)
	}
	page := body(t, owner.get("/account/activity"))
	if !strings.Contains(page, "41 times since") {
		t.Errorf("the activity page does not show the last run's count (41):\n%s", page)
	}
	if logs := ts.logs.String(); strings.Count(logs, "event=sign_in outcome=throttled") != refused {
		t.Errorf("%d audit lines for %d refused sign-ins", strings.Count(logs, "event=sign_in outcome=throttled"), refused)
	}
}

// B4: a device token has its own budget. Too many failures lock that token
// alone, not the account for strangers nor the owner's other devices; a
// forged, expired or someone else's token is no token at all.
func TestDeviceTokenBudget(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *testOptions) {
		o.limits = Limits{AccountFailures: 3, DeviceFailures: 2, Window: time.Minute}
	})
	ts.addUser(t, "alice", "password one")
	ts.addUser(t, "bob", "password two")
	phone, laptop := ts.client(t), ts.client(t)
	wantStatus(t, phone.login("alice", "password one"), http.StatusSeeOther)
	wantStatus(t, laptop.login("alice", "password one"), http.StatusSeeOther)
	_, bobToken := ts.client(t).jsonLogin("bob", "password two")

	// The phone (a stolen one, say) guesses: its own two attempts, then its
	// token is locked, even for the right password.
	for range 2 {
		wantStatus(t, phone.login("alice", cheapWrong), http.StatusUnauthorized)
	}
	throttledHTML(t, phone.login("alice", "password one"))
	if b := body(t, phone.login("alice", "password one")); !strings.Contains(b, "Too many attempts from this device") {
		t.Errorf("a locked device is not told so:\n%.500s", b)
	}
	// The laptop is unaffected, and so is the strangers' budget: three
	// failures before their lock, as if the phone had not tried.
	wantStatus(t, laptop.login("alice", "password one"), http.StatusSeeOther)
	for range 3 {
		wantStatus(t, ts.client(t).login("alice", cheapWrong), http.StatusUnauthorized)
	}
	wantStatus(t, ts.client(t).login("alice", "password one"), http.StatusTooManyRequests)
	// The laptop still signs in during the strangers' lock.
	wantStatus(t, laptop.login("alice", "password one"), http.StatusSeeOther)

	// Tokens that do not prove this account are ignored: the request is a
	// stranger's, and the account is locked for strangers.
	good := laptop.deviceCookie()
	forged := []byte(good)
	forged[10] ^= 1
	old, err := device.New(device.Config{Key: ts.opts.keys.Derive(device.Purpose), Lifetime: 24 * time.Hour,
		Now: func() time.Time { return time.Now().Add(-25 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := device.New(device.Config{Key: make([]byte, 32), Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"forged":           string(forged),
		"bob's":            bobToken,
		"expired":          old.Issue(1),
		"another server's": foreign.Issue(1),
	} {
		resp, _ := ts.client(t).jsonLogin("alice", "password one", device.Header, tok)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s token: status %d, want 429 (untrusted)", name, resp.StatusCode)
		}
	}
	resp, _ := ts.client(t).jsonLogin("alice", "password one", device.Header, good)
	wantStatus(t, resp, http.StatusOK)
}

// B4: a signed-in session can always change its password: wrong current
// passwords count against the session's own budget, never the account's
// lock, and one session's budget is not another's.
func TestPasswordChangeHasTheSessionsBudget(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *testOptions) {
		o.limits = Limits{AccountFailures: 1, DeviceFailures: 2, Window: time.Minute}
	})
	ts.addUser(t, "alice", "password one")
	hijacked := ts.loginAs(t, "alice", "password one")
	owner := ts.loginAs(t, "alice", "password one")
	// A stranger locks the account.
	wantStatus(t, ts.client(t).login("alice", cheapWrong), http.StatusUnauthorized)
	wantStatus(t, ts.client(t).login("alice", cheapWrong), http.StatusTooManyRequests)

	change := func(c *client, current string, header ...string) *http.Response {
		t.Helper()
		return c.postForm("/account/password", url.Values{"current_password": {current}, "new_password": {"password two"}}, header...)
	}
	// The hijacked session guesses: two tries, then 429 on the form.
	wantStatus(t, change(hijacked, cheapWrong), http.StatusUnauthorized)
	wantStatus(t, change(hijacked, cheapWrong+"2"), http.StatusUnauthorized)
	throttledHTML(t, change(hijacked, "password one"))
	if b := body(t, change(hijacked, "password one")); !strings.Contains(b, `name="current_password"`) || !strings.Contains(b, "from this session") {
		t.Errorf("the 429 answer to a password change is not the form with the message:\n%.500s", b)
	}
	throttledJSON(t, hijacked.do(http.MethodPost, "/api/password", strings.NewReader(`{"current_password":"password one","new_password":"password two"}`), "Content-Type", "application/json"))

	// The owner's session has its own budget, and the account's lock does
	// not apply to it.
	wantStatus(t, change(owner, "typo"), http.StatusUnauthorized)
	wantStatus(t, change(owner, "password one"), http.StatusSeeOther)
	wantStatus(t, hijacked.get("/api/me"), http.StatusUnauthorized) // ended by the change
}

// Item 3 of issue 13: the 429 answer to a sign-in is the form again (the
// name kept, the password not), with the message and when to retry; a
// failure warns before the lock when few attempts are left, counted the
// same way for a name that does not exist, so the warning reveals nothing.
func TestThrottledSignInKeepsTheFormAndWarnsFirst(t *testing.T) {
	t.Parallel()
	const limit = 5
	ts := newTestServer(t, func(o *testOptions) { o.limits = Limits{AccountFailures: limit, Window: 10 * time.Minute} })
	ts.addUser(t, "alice", "password one")

	for i := range limit {
		known := body(t, ts.client(t).login("alice", cheapWrong))
		unknown := body(t, ts.client(t).login("nobody", cheapWrong))
		if strings.ReplaceAll(unknown, "nobody", "alice") != known {
			t.Fatalf("failure %d: the answers for a known and an unknown name differ:\n%s\n---\n%s", i+1, known, unknown)
		}
		left := limit - i - 1
		warned := strings.Contains(known, "attempt left") || strings.Contains(known, "attempts left") || strings.Contains(known, "last attempt")
		if want := left <= warnWhenLeft; warned != want {
			t.Errorf("failure %d (%d left): warned %v, want %v:\n%.800s", i+1, left, warned, want, known)
		}
		if left == 2 && !strings.Contains(known, "2 attempts left before further ones are refused for up to 10 minutes.") {
			t.Errorf("failure %d: warning not as expected:\n%.800s", i+1, known)
		}
	}
	// JSON says how many are left the same way (both names are at 0 now).
	ts2 := newTestServer(t, func(o *testOptions) { o.limits = Limits{AccountFailures: 2, Window: 10 * time.Minute} })
	ts2.addUser(t, "alice", "password one")
	for _, name := range []string{"alice", "nobody"} {
		resp, _ := ts2.client(t).jsonLogin(name, cheapWrong)
		wantStatus(t, resp, http.StatusUnauthorized)
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if out["error"] != msgInvalidCredentials || out["attempts_left"] != float64(1) {
			t.Errorf("%s: JSON failure %v, want the one message and attempts_left 1", name, out)
		}
	}

	// The lock: the form again, with the name typed (any spelling) and
	// never the password, saying when to come back.
	form := url.Values{"username": {"Alice"}, "password": {"password one"}, "next": {"/account/sessions"}}
	throttledHTML(t, ts.client(t).postForm("/login", form))
	page := body(t, ts.client(t).postForm("/login", form))
	for _, want := range []string{`<form method="post" action="/login"`, `name="username" value="Alice"`, `name="next" value="/account/sessions"`,
		"Too many attempts. Please try again in ", " minutes (after ", " UTC)."} {
		if !strings.Contains(page, want) {
			t.Errorf("429 page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "password one") || strings.Contains(page, `type="password" value`) {
		t.Error("429 page echoes the password")
	}
	throttledJSON(t, ts.client(t).login("alice", "password one", "Accept", "application/json"))
}

// THROTTLE_DEVICE_FAILURES=0 gives devices and sessions no budget of their
// own (not an unlimited one): they count per account like everyone.
func TestNoDeviceBudgetsMeansStrangersLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *testOptions) { o.limits = Limits{AccountFailures: 2, Window: time.Minute} })
	ts.addUser(t, "alice", "password one")
	owner := ts.loginAs(t, "alice", "password one")
	for range 2 {
		wantStatus(t, owner.login("alice", cheapWrong), http.StatusUnauthorized)
	}
	wantStatus(t, owner.login("alice", "password one"), http.StatusTooManyRequests)
	resp := owner.postForm("/account/password", url.Values{"current_password": {"password one"}, "new_password": {"password two"}})
	wantStatus(t, resp, http.StatusTooManyRequests)
}
