package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/session"
)

// noticeOf returns the text of the page's notice, or "".
func noticeOf(page string) string {
	_, rest, ok := strings.Cut(page, `<p class="notice" role="status">`)
	if !ok {
		return ""
	}
	text, _, _ := strings.Cut(rest, "</p>")
	return text
}

// follow GETs the Location of a redirect.
func (c *client) follow(resp *http.Response) (*http.Response, string) {
	c.t.Helper()
	wantStatus(c.t, resp, http.StatusSeeOther)
	next := c.get(resp.Header.Get("Location"))
	return next, body(c.t, next)
}

// Every action says what it did on the page it leads to, once, with no
// script: a cookie naming the notice, deleted by the page that shows it.
func TestNoticesAfterActions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t)

	resp, page := c.follow(c.postForm("/signup", url.Values{"username": {"Alice"}, "password": {"correct horse"}}))
	if got := noticeOf(page); got != "Welcome, Alice! Your account is ready, and you are signed in." {
		t.Errorf("after sign-up: notice %q", got)
	}
	var deleted bool
	for _, ck := range resp.Cookies() {
		deleted = deleted || ck.Name == noticeCookie && ck.MaxAge < 0
	}
	if !deleted {
		t.Errorf("the page showing the notice does not delete its cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	if got := noticeOf(body(t, c.get("/account"))); got != "" {
		t.Errorf("the notice is shown twice: %q", got)
	}

	// Ending another session names its device.
	ts.loginAs(t, "alice", "correct horse", "User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile/15E148 Safari/604.1")
	var phone string
	for _, s := range c.sessions() {
		if !s.Current {
			phone = s.ID
		}
	}
	_, page = c.follow(c.postForm("/account/sessions/"+phone+"/revoke", nil))
	if got := noticeOf(page); got != "Session on Safari on iOS ended." {
		t.Errorf("after ending a session: notice %q", got)
	}

	// Ending all the others counts them.
	ts.loginAs(t, "alice", "correct horse")
	ts.loginAs(t, "alice", "correct horse")
	_, page = c.follow(c.postForm("/account/sessions/revoke-others", nil))
	if got := noticeOf(page); got != "2 other sessions ended: you are signed out everywhere else." {
		t.Errorf("after ending the others: notice %q", got)
	}

	// A password change goes back to the account page.
	resp = c.postForm("/account/password", url.Values{"current_password": {"correct horse"}, "new_password": {"battery staple"}, "confirm_password": {"battery staple"}})
	if loc := resp.Header.Get("Location"); loc != "/account" {
		t.Errorf("after a password change: Location %q, want /account", loc)
	}
	_, page = c.follow(resp)
	if got := noticeOf(page); got != "Your password was changed, and every other session of your account was signed out." {
		t.Errorf("after a password change: notice %q", got)
	}

	// Sign-out clears every cookie of the site (Clear-Site-Data), so its
	// notice rides on the URL, and shows only to a signed-out visitor.
	if got := noticeOf(body(t, c.get("/?"+signedOutQuery))); got != "" {
		t.Errorf("a signed-in visitor of /?%s is told %q", signedOutQuery, got)
	}
	_, page = c.follow(c.postForm("/logout", nil))
	if got := noticeOf(page); got != "You are signed out." {
		t.Errorf("after sign-out: notice %q", got)
	}

	// JSON clients get no notice cookie: their answer says what happened.
	j := ts.loginAs(t, "alice", "battery staple")
	resp = j.postForm("/api/sessions/revoke-others", nil)
	wantStatus(t, resp, http.StatusOK)
	for _, ck := range resp.Cookies() {
		if ck.Name == noticeCookie {
			t.Errorf("a JSON answer set the notice cookie %q", ck.Value)
		}
	}
}

// A notice cookie someone else planted can make a page say one of the
// fixed sentences, with at most a short plain argument, and only to a
// signed-in user: never text of their choosing, never markup.
func TestForgedNoticeSaysNothingElse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.signedIn(t, "alice", "correct horse")
	u, _ := url.Parse(ts.URL)
	for _, tc := range []struct{ value, want string }{
		{"n=session-ended&a=Firefox+on+Linux", "Session on Firefox on Linux ended."},
		{"n=session-ended&a=Call+555-0100+now%21", ""},
		{"n=session-ended&a=%3Cscript%3Ealert(1)%3C%2Fscript%3E", ""},
		{"n=session-ended&a=" + strings.Repeat("a", maxNoticeArg+1), ""},
		{"n=others-ended&a=3", "3 other sessions ended: you are signed out everywhere else."},
		{"n=others-ended&a=lots", ""},
		{"n=your-account-is-suspended", ""},
		{"%zz", ""},
	} {
		c.http.Jar.SetCookies(u, []*http.Cookie{{Name: noticeCookie, Value: tc.value, Path: "/"}})
		resp := c.get("/account")
		wantStatus(t, resp, http.StatusOK)
		if got := noticeOf(body(t, resp)); got != tc.want {
			t.Errorf("cookie %q: notice %q, want %q", tc.value, got, tc.want)
		}
	}
	// Signed out, a planted notice says nothing at all.
	stranger := ts.client(t)
	stranger.http.Jar.SetCookies(u, []*http.Cookie{{Name: noticeCookie, Value: "n=welcome", Path: "/"}})
	if got := noticeOf(body(t, stranger.get("/login"))); got != "" {
		t.Errorf("a signed-out visitor with a planted notice is told %q", got)
	}
}

// A device whose session ended is told why on the sign-in page; a
// visitor without a session cookie is told nothing, and one with a
// made-up token no more than "expired".
func TestSignInPageSaysWhySessionEnded(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.addUser(t, "alice", "password one")
	loginNotice := func(c *client) string {
		t.Helper()
		resp := c.get("/account")
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login") {
			t.Fatalf("GET /account: status %d Location %q, want the sign-in page", resp.StatusCode, loc)
		}
		_, page := c.follow(resp)
		return noticeOf(page)
	}

	if got := loginNotice(ts.client(t)); got != "" {
		t.Errorf("no cookie: notice %q, want none", got)
	}
	madeUp := ts.client(t)
	madeUp.setCookie("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if got, want := loginNotice(madeUp), endedNotice(session.EndExpired); got != want {
		t.Errorf("made-up token: notice %q, want %q", got, want)
	}

	laptop := ts.loginAs(t, "alice", "password one")
	phone := ts.loginAs(t, "alice", "password one")
	tablet := ts.loginAs(t, "alice", "password one")
	var phoneID string
	for _, s := range phone.sessions() {
		if s.Current {
			phoneID = s.ID
		}
	}
	wantStatus(t, laptop.postForm("/account/sessions/"+phoneID+"/revoke", nil), http.StatusSeeOther)
	if got, want := loginNotice(phone), endedNotice(session.EndRevoked); got != want {
		t.Errorf("revoked elsewhere: notice %q, want %q", got, want)
	}
	wantStatus(t, laptop.postForm("/account/password", url.Values{"current_password": {"password one"}, "new_password": {"password two"}}), http.StatusSeeOther)
	if got, want := loginNotice(tablet), endedNotice(session.EndPasswordChanged); got != want {
		t.Errorf("password changed elsewhere: notice %q, want %q", got, want)
	}
	// Once signed in again, nothing is left to explain.
	wantStatus(t, tablet.login("alice", "password two"), http.StatusSeeOther)
	wantStatus(t, tablet.postForm("/logout", nil), http.StatusSeeOther)
	if got := noticeOf(body(t, tablet.get("/login"))); got != "" {
		t.Errorf("after signing out by choice: notice %q", got)
	}
}

func TestRelativeTimes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 18, 33, 8, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration // how long ago (negative: ahead)
		want string
	}{
		{0, "just now"},
		{59 * time.Second, "just now"},
		{time.Minute, "1 minute ago"},
		{5*time.Minute + 59*time.Second, "5 minutes ago"},
		{59 * time.Minute, "59 minutes ago"},
		{time.Hour, "1 hour ago"},
		{23*time.Hour + 59*time.Minute, "23 hours ago"},
		{36 * time.Hour, "1 day ago"},
		{30 * 24 * time.Hour, "30 days ago"},
		{31 * 24 * time.Hour, "23 Oct 2026"},
		{-30 * time.Second, "in less than a minute"},
		{-(30*time.Minute - 200*time.Millisecond), "in 30 minutes"},
		{-(59*time.Minute + 50*time.Second), "in 1 hour"},
		{-(7*24*time.Hour - time.Minute), "in 7 days"},
		{-90 * 24 * time.Hour, "21 Feb 2027"},
	} {
		if got := relative(now.Add(-tc.d), now); got != tc.want {
			t.Errorf("%v ago: %q, want %q", tc.d, got, tc.want)
		}
	}
	m := when(now, now)
	if m.ISO != "2026-11-23T18:33:08Z" || m.Absolute != "2026-11-23 18:33 UTC" {
		t.Errorf("when: %+v", m)
	}
}

// Forms point each field at its hint and its error, mark the fields in
// error, and give the first of them the focus (pages run no script).
func TestFormsLinkErrorsToFields(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	resp := ts.client(t).postForm("/signup", url.Values{"username": {"bob"}, "password": {"short"}})
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	page := body(t, resp)
	for _, want := range []string{
		`id="username" name="username" value="bob"`,
		`aria-describedby="username-hint"`,
		`aria-describedby="password-error password-hint" aria-invalid="true" autofocus>`,
		`<p class="field-error" id="password-error">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-up page with a bad password lacks %q:\n%s", want, page)
		}
	}
	if n := strings.Count(page, "autofocus"); n != 1 {
		t.Errorf("%d fields have autofocus, want 1", n)
	}
}

// The browser asks for /favicon.ico on every site.
func TestFavicon(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	resp := ts.client(t).get("/favicon.ico")
	wantStatus(t, resp, http.StatusOK)
	if b := body(t, resp); !strings.HasPrefix(b, "\x00\x00\x01\x00") {
		t.Errorf("/favicon.ico is not an icon: %.8q", b)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public") {
		t.Errorf("/favicon.ico Cache-Control %q", cc)
	}
}
