package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp/kb"

	"github.com/sessionauth/authd/internal/browsertest"
)

// iPhone is the User-Agent of the second device in the flows, so that its
// session reads "Safari on iOS" on the first device's sessions page.
const iPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"

// site is one authd and one browser, shared by a test's flows.
type site struct {
	t       *testing.T
	base    string
	browser *browsertest.Browser
}

func newSite(t *testing.T) *site {
	t.Helper()
	b := browsertest.Start(t) // skips without Chromium unless CI is set
	return &site{t: t, base: startAuthd(t, nil), browser: b}
}

// device is one browser context (its own cookies) on the site.
type device struct {
	*browsertest.Page
	t    *testing.T
	site *site
	dev  browsertest.Device
}

func (s *site) device(t *testing.T, d browsertest.Device) *device {
	return &device{Page: s.browser.NewPage(t, d), t: t, site: s, dev: d}
}

// open loads path and checks the page as check does.
func (d *device) open(path, name string) {
	d.t.Helper()
	switch status := d.Open(d.site.base + path); status {
	case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
	default:
		d.t.Fatalf("GET %s: status %d", path, status)
	}
	d.check(name)
}

// submit clicks a submit button, waits for the page that follows and
// checks it.
func (d *device) submit(sel, name string) int64 {
	d.t.Helper()
	status := d.Submit(sel)
	d.check(name)
	return status
}

// check holds every page to the same bar, in light and in dark mode: no
// console errors, failed loads, CSP violations or DevTools issues; no sideways scrolling;
// no axe-core violation of impact moderate or worse (contrast included).
// It takes screenshots when BROWSERTEST_SCREENSHOTS names a directory.
func (d *device) check(name string) {
	d.t.Helper()
	for _, scheme := range []string{"light", "dark"} {
		dev := d.dev
		dev.ColorScheme = scheme
		d.Emulate(dev)
		shot := fmt.Sprintf("%s-%s", dev, name)
		d.Screenshot(shot)
		if over := d.HorizontalOverflow(); over > 0 {
			d.t.Errorf("%s: the page is %d px wider than the %d px viewport", shot, over, dev.Width)
		}
		if broken := browsertest.Eval[[]string](d.Page, wrappedJS); len(broken) > 0 {
			d.t.Errorf("%s: broken across lines: %q", shot, broken)
		}
		for _, v := range d.Axe("moderate") {
			d.t.Errorf("%s: axe: %s", shot, v)
		}
	}
	d.Emulate(d.dev)
	for _, p := range d.Problems() {
		d.t.Errorf("%s: %s", name, p)
	}
	// Chromium's own audits (cookies, forms, CSP, deprecations): none.
	for _, is := range d.Issues() {
		d.t.Errorf("%s: DevTools issue %s", name, is)
	}
	if title := d.Title(); !strings.HasSuffix(title, " · authd") || !isTitleCase(strings.TrimSuffix(title, " · authd")) {
		d.t.Errorf("%s: title %q is not in title case", name, title)
	}
}

// wrappedJS lists the times, badges and buttons whose text runs over more
// than one line: a date broken at its hyphen, a badge torn in two.
const wrappedJS = `[...document.querySelectorAll("time, .badge, button")].filter(e => {
	const r = document.createRange();
	r.selectNodeContents(e);
	return new Set([...r.getClientRects()].map(x => Math.round(x.bottom))).size > 1;
}).map(e => e.outerHTML)`

// isTitleCase reports whether every word but the small ones is capitalised.
func isTitleCase(s string) bool {
	small := map[string]bool{"a": true, "an": true, "the": true, "and": true, "or": true, "of": true, "to": true, "in": true, "on": true}
	for i, w := range strings.Fields(s) {
		if i > 0 && small[w] {
			continue
		}
		if r := w[0]; r >= 'a' && r <= 'z' {
			return false
		}
	}
	return true
}

// path returns the page's path and query.
func (d *device) path() string {
	d.t.Helper()
	u, err := url.Parse(d.Location())
	if err != nil {
		d.t.Fatal(err)
	}
	return u.RequestURI()
}

// wantAt fails the test unless the page is at path (with its query).
func (d *device) wantAt(path string) {
	d.t.Helper()
	if got := d.path(); got != path {
		d.t.Fatalf("at %s, want %s", got, path)
	}
}

// wantNotice fails the test unless the page shows exactly this notice.
func (d *device) wantNotice(want string) {
	d.t.Helper()
	if n := d.Count(".notice"); n != 1 {
		d.t.Fatalf("%s: %d notices, want one saying %q", d.path(), n, want)
	}
	if got := d.Text(".notice"); got != want {
		d.t.Errorf("%s: notice %q, want %q", d.path(), got, want)
	}
}

func (d *device) wantNoNotice() {
	d.t.Helper()
	if n := d.Count(".notice"); n != 0 {
		d.t.Errorf("%s: %d notices (%q), want none", d.path(), n, d.Text(".notice"))
	}
}

// signIn fills the sign-in form it is on and submits it.
func (d *device) signIn(name, pw string, remember bool) {
	d.t.Helper()
	d.Fill("#username", name)
	d.Fill("#password", pw)
	if remember {
		d.Click("#remember")
	}
	d.submit("form[action='/login'] button[type=submit]", "account-signed-in")
}

// TestPagesInBrowser walks the issue's flow at 1280 and 375 px: sign-up,
// sign-in with keep-me-signed-in, a second device signs in, the first ends
// its session, the second lands on sign-in with the reason, password
// change, activity, sign-out. Every page is checked in light and dark.
func TestPagesInBrowser(t *testing.T) {
	s := newSite(t)
	for _, dev := range []browsertest.Device{browsertest.Desktop, browsertest.Phone} {
		t.Run(fmt.Sprint(dev.Width), func(t *testing.T) {
			name := fmt.Sprintf("alice%d", dev.Width)
			const pw, pw2 = "correct horse battery", "a new passphrase"
			a := s.device(t, dev)

			// Sign up (once with errors: the fields say what is wrong).
			a.open("/signup", "signup")
			a.Fill("#username", "a")
			a.Fill("#password", "short")
			// The browser's own checks (minlength) would stop the submit.
			browsertest.Eval[bool](a.Page, `document.querySelector("form[action='/signup']").noValidate = true`)
			a.submit("form[action='/signup'] button", "signup-errors")
			if got := a.Focused(); got != "#username" {
				t.Errorf("sign-up errors: focus on %s, want the first field in error, #username", got)
			}
			for _, id := range []string{"username", "password"} {
				if v := browsertest.Eval[string](a.Page, fmt.Sprintf(`document.getElementById(%q).getAttribute("aria-invalid") || ""`, id)); v != "true" {
					t.Errorf("sign-up errors: #%s aria-invalid=%q", id, v)
				}
				desc := browsertest.Eval[string](a.Page, fmt.Sprintf(`document.getElementById(%q).getAttribute("aria-describedby") || ""`, id))
				if !strings.Contains(desc, id+"-error") || !strings.Contains(desc, id+"-hint") {
					t.Errorf("sign-up errors: #%s aria-describedby=%q, want its error and its hint", id, desc)
				}
			}
			a.Fill("#username", name)
			a.Fill("#password", pw)
			a.submit("form[action='/signup'] button", "account-welcome")
			a.wantAt("/account")
			a.wantNotice("Welcome, " + name + "! Your account is ready, and you are signed in.")
			// The notice is shown once.
			a.open("/account", "account")
			a.wantNoNotice()
			if n := a.Count("button"); n != 1 {
				t.Errorf("account page: %d buttons, want one (sign out, in the header)", n)
			}

			// Sign out, then in again, kept signed in.
			a.submit("header button", "home-signed-out")
			a.wantAt("/?signed-out")
			a.wantNotice("You are signed out.")
			a.open("/login", "login")
			a.wantNoNotice() // signed out by choice: nothing to explain
			a.signIn(name, pw, true)
			a.wantAt("/account")
			if c := sessionCookie(a); c == nil || c.Session {
				t.Errorf("kept signed in: the session cookie is %+v, want a persistent one", c)
			}
			if h := headerHeight(a); h != headerHeight(s.device(t, dev).opened("/")) {
				t.Errorf("the header is %v px tall signed in, %v signed out", h, headerHeight(s.device(t, dev).opened("/")))
			}

			// A second device (an iPhone) signs in.
			phoneDev := browsertest.Phone
			phoneDev.UserAgent = iPhone
			b := s.device(t, phoneDev)
			b.open("/login", "login")
			b.signIn(name, pw, false)
			b.wantAt("/account")

			// The first ends the second's session.
			a.open("/account/sessions", "sessions")
			if n := a.Count("tbody tr"); n != 2 {
				t.Fatalf("sessions page: %d rows, want 2", n)
			}
			if got := a.Text("tr.current .badge"); got != "This device" {
				t.Errorf("current session badge %q", got)
			}
			labels := browsertest.Eval[[]string](a.Page, `[...document.querySelectorAll("tbody button")].map(b => b.getAttribute("aria-label"))`)
			if len(labels) != 2 || labels[0] == labels[1] || !strings.Contains(strings.Join(labels, "|"), "End session on Safari on iOS") {
				t.Errorf("end-session buttons: aria-labels %q, want two different ones naming the device", labels)
			}
			a.submit(`tbody button[aria-label^="End session on Safari on iOS"]`, "sessions-ended")
			a.wantAt("/account/sessions")
			a.wantNotice("Session on Safari on iOS ended.")
			if n := a.Count("tbody tr"); n != 1 {
				t.Errorf("after ending one: %d rows, want 1", n)
			}

			// The second lands on the sign-in page, told why.
			b.open("/account", "login-revoked")
			b.wantAt("/login?next=%2Faccount")
			b.wantNotice("Your session was ended from another device. Please sign in again.")
			b.signIn(name, pw, false)
			b.wantAt("/account")

			// Password change: first a wrong current password.
			a.open("/account/password", "password")
			if got := a.Focused(); got != "#current_password" {
				t.Errorf("password page: focus on %s, want #current_password", got)
			}
			a.Fill("#current_password", "not it at all")
			a.Fill("#new_password", pw2)
			a.Fill("#confirm_password", pw2)
			a.submit("main form button", "password-wrong")
			if got := a.Focused(); got != "#current_password" {
				t.Errorf("wrong current password: focus on %s, want #current_password", got)
			}
			a.Fill("#current_password", pw)
			a.Fill("#new_password", pw2)
			a.Fill("#confirm_password", pw2)
			a.submit("main form button", "account-password-changed")
			a.wantAt("/account")
			a.wantNotice("Your password was changed, and every other session of your account was signed out.")

			// The second device is told its session ended with the change.
			b.open("/account/sessions", "login-password-changed")
			b.wantAt("/login?next=%2Faccount%2Fsessions")
			b.wantNotice("Your password was changed on another device, which signed this one out. Please sign in with the new password.")

			// Activity: what happened, in the sessions page's words.
			a.open("/account/activity", "activity")
			whats := browsertest.Eval[[]string](a.Page, `[...document.querySelectorAll("tbody tr td:nth-child(2)")].map(td => td.textContent.trim())`)
			if len(whats) == 0 || whats[0] != "Password changed (other sessions signed out)" {
				t.Errorf("activity, newest first: %q; want the password change first, with no sign-in after it", whats)
			}
			for _, want := range []string{"Failed password change (wrong current password)", "Session ended", "Signed in", "Signed out"} {
				if !strings.Contains(strings.Join(whats, "|"), want) {
					t.Errorf("activity lacks %q: %q", want, whats)
				}
			}
			clients := browsertest.Eval[[]string](a.Page, `[...document.querySelectorAll("tbody tr td:nth-child(3) span")].map(s => s.textContent + "|" + s.title)`)
			if !strings.Contains(strings.Join(clients, "\n"), "Safari on iOS|"+iPhone) {
				t.Errorf("activity clients (summary|title): %q, want the iPhone as Safari on iOS with its full User-Agent in the title", clients)
			}
			times := browsertest.Eval[[]string](a.Page, `[...document.querySelectorAll("tbody time")].map(t => t.textContent + "|" + t.getAttribute("datetime") + "|" + t.title)`)
			for _, tm := range times {
				f := strings.Split(tm, "|")
				if len(f) != 3 || !recently.MatchString(f[0]) || !strings.HasSuffix(f[1], "Z") || !strings.HasSuffix(f[2], " UTC") {
					t.Errorf("activity time %q: want relative text, an RFC 3339 datetime and the absolute time in the title", tm)
				}
			}

			// Sign out.
			a.submit("header button", "home-signed-out")
			a.wantAt("/?signed-out")
			a.wantNotice("You are signed out.")
		})
	}
}

// recently matches the relative time of an event of this test, however
// slowly the machine runs it.
var recently = regexp.MustCompile(`^(just now|[0-9]+ minutes? ago)$`)

// opened loads a page without checking it, for measurements.
func (d *device) opened(path string) *device {
	d.t.Helper()
	d.Open(d.site.base + path)
	return d
}

// sessionCookie returns the device's session cookie, or nil.
func sessionCookie(d *device) *network.Cookie {
	d.t.Helper()
	for _, c := range d.Cookies() {
		if c.Name == "session_id" {
			return c
		}
	}
	return nil
}

func headerHeight(d *device) float64 {
	return browsertest.Eval[float64](d.Page, `document.querySelector("header").getBoundingClientRect().height`)
}

// TestEveryPageInBrowser checks the pages the flow does not pass through,
// and the forms in their error states.
func TestEveryPageInBrowser(t *testing.T) {
	b := browsertest.Start(t)
	// Two failures lock an account, so that the 429 page is quick to reach.
	s := &site{t: t, base: startAuthd(t, map[string]string{"THROTTLE_ACCOUNT_FAILURES": "2"}), browser: b}
	for _, dev := range []browsertest.Device{browsertest.Desktop, browsertest.Phone} {
		t.Run(fmt.Sprint(dev.Width), func(t *testing.T) {
			d := s.device(t, dev)
			d.open("/", "home")
			d.open("/no-such-page", "not-found")
			if got := d.Title(); got != "Not Found · authd" {
				t.Errorf("404 title %q", got)
			}
			d.open("/login", "login")
			d.Fill("#username", fmt.Sprintf("nobody%d", dev.Width))
			d.Fill("#password", "wrong password")
			if status := d.submit("main form button", "login-failed"); status != http.StatusUnauthorized {
				t.Errorf("wrong password: status %d", status)
			}
			if got := d.Focused(); got != "#password" {
				t.Errorf("failed sign-in: focus on %s, want #password (the name is kept)", got)
			}
			d.Fill("#password", "wrong again")
			d.submit("main form button", "login-failed")
			d.Fill("#password", "and again")
			if status := d.submit("main form button", "too-many-requests"); status != http.StatusTooManyRequests {
				t.Errorf("third failure: status %d, want 429", status)
			}
			d.open("/logout", "method-not-allowed") // sign-out takes a POST

			// The pages of a forgotten password and of links from mails,
			// with a link that is not (or no longer) valid.
			d.open("/forgot", "forgot")
			d.Fill("#login", fmt.Sprintf("nobody%d", dev.Width))
			d.submit("main form button", "forgot-sent")
			d.open("/reset?token=not-a-token", "reset-bad-link")
			d.open("/email/verify?token=not-a-token", "verify-bad-link")

			// Signed in: the home page, and the session pages of a new user.
			d.open("/signup", "signup")
			d.Fill("#username", fmt.Sprintf("every%d", dev.Width))
			d.Fill("#password", "every page please")
			d.submit("main form button", "account-welcome")
			d.open("/", "home-signed-in")
			d.open("/account/activity", "activity-new")
			d.open("/account/sessions", "sessions-one")
			d.open("/account/password", "password")
			d.open("/account/email", "email")
			if status := d.Open(s.base + "/favicon.ico"); status != http.StatusOK {
				t.Errorf("/favicon.ico: status %d", status)
			}
		})
	}
}

// TestKeyboardOnlySignIn signs in without a mouse: the skip link comes
// first, the form takes the focus, Tab moves through it and Enter submits.
func TestKeyboardOnlySignIn(t *testing.T) {
	s := newSite(t)
	setup := s.device(t, browsertest.Desktop)
	setup.open("/signup", "signup")
	setup.Fill("#username", "kim")
	setup.Fill("#password", "keyboard only please")
	setup.submit("main form button", "account-welcome")

	for _, dev := range []browsertest.Device{browsertest.Desktop, browsertest.Phone} {
		t.Run(fmt.Sprint(dev.Width), func(t *testing.T) {
			d := s.device(t, dev)
			d.Open(s.base + "/")
			d.Press(kb.Tab)
			if got := d.Focused(); got != "a:Skip to content" {
				t.Fatalf("first Tab: focus on %s, want the skip link", got)
			}
			if top := browsertest.Eval[float64](d.Page, `document.activeElement.getBoundingClientRect().top`); top < 0 {
				t.Errorf("the focused skip link is off screen (top %v)", top)
			}
			d.Press(kb.Enter)
			if got := d.Focused(); got != "#main" {
				t.Errorf("after the skip link: focus on %s, want #main", got)
			}

			d.Open(s.base + "/login")
			if got := d.Focused(); got != "#username" {
				t.Fatalf("sign-in page: focus on %s, want #username", got)
			}
			d.Press("kim")
			d.Press(kb.Tab)
			d.Press("keyboard only please")
			d.Press(kb.Tab)
			if got := d.Focused(); got != "#remember" {
				t.Fatalf("after the password: focus on %s, want #remember", got)
			}
			d.Press(" ")
			d.Press(kb.Tab)
			if got := d.Focused(); got != "button:Sign in" {
				t.Fatalf("after the checkbox: focus on %s, want the sign-in button", got)
			}
			d.PressAndWait(kb.Enter)
			d.wantAt("/account")
			if c := sessionCookie(d); c == nil || c.Session {
				t.Errorf("the checkbox, ticked with Space, did not keep the session: cookie %+v", c)
			}
		})
	}
}
