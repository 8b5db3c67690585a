package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A sign-in started from a protected app returns there (when allowed, F2),
// keeps the target through a failed attempt, and says in the audit line
// which app it came from.
func TestSignInReturnsToApp(t *testing.T) {
	ts, _, _ := newForwardServer(t)
	c := ts.client(t)
	const app = "http://app1.example.test/wiki?page=1"

	resp := c.get("/login?rd=" + url.QueryEscape(app))
	wantStatus(t, resp, http.StatusOK)
	if page := body(t, resp); !strings.Contains(page, `name="rd" value="http://app1.example.test/wiki?page=1"`) {
		t.Fatalf("sign-in form does not carry the return target:\n%s", page)
	}
	form := url.Values{"username": {"alice"}, "password": {"wrong password"}, "rd": {app}}
	resp = c.postForm("/login", form)
	wantStatus(t, resp, http.StatusUnauthorized)
	if !strings.Contains(body(t, resp), `name="rd" value="http://app1.example.test/wiki?page=1"`) {
		t.Fatal("a failed sign-in lost the return target")
	}
	mark := len(ts.logs.String())
	form.Set("password", "password one")
	resp = c.postForm("/login", form)
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != app {
		t.Fatalf("sign-in went to %q, want back to %q", loc, app)
	}
	lines := auditLines(ts.logs.String(), mark)
	if len(lines) != 1 || lines[0]["event"] != "sign_in" || lines[0]["outcome"] != "success" || lines[0]["app"] != "app1.example.test" {
		t.Fatalf("audit lines %v; want one sign_in success with app=app1.example.test", lines)
	}

	// A target off the allowed list, or a tricky one, falls back to /account.
	for _, rd := range []string{"https://evil.example/", "//evil.example", "http://app1.example.test@evil.example/", "http://example.test.evil.example/"} {
		resp := ts.client(t).postForm("/login", url.Values{"username": {"alice"}, "password": {"password one"}, "rd": {rd}})
		wantStatus(t, resp, http.StatusSeeOther)
		if loc := resp.Header.Get("Location"); loc != "/account" {
			t.Errorf("rd=%q: sign-in went to %q, want /account", rd, loc)
		}
		page := body(t, ts.client(t).get("/login?rd="+url.QueryEscape(rd)))
		if strings.Contains(page, `name="rd"`) {
			t.Errorf("rd=%q: the form carries a refused target", rd)
		}
	}

	// Sign-out from an app returns there too.
	resp = c.postForm("/logout", url.Values{"rd": {"http://app2.example.test/"}})
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "http://app2.example.test/" {
		t.Fatalf("sign-out went to %q", loc)
	}
	resp = ts.client(t).postForm("/logout", url.Values{"rd": {"https://evil.example/"}})
	if loc := resp.Header.Get("Location"); loc != "/?signed-out" {
		t.Fatalf("sign-out with a refused target went to %q", loc)
	}
}

// Throttling and its audit line work for a sign-in started from an app,
// and the line names the app.
func TestSignInFromAppThrottled(t *testing.T) {
	ts, _, _ := newForwardServer(t, func(o *testOptions) {
		o.limits = Limits{AccountFailures: 1, Window: time.Minute}
	})
	c := ts.client(t)
	form := url.Values{"username": {"alice"}, "password": {"wrong password"}, "rd": {"http://app2.example.test/"}}
	wantStatus(t, c.postForm("/login", form), http.StatusUnauthorized)
	mark := len(ts.logs.String())
	form.Set("password", "password one")
	wantStatus(t, c.postForm("/login", form), http.StatusTooManyRequests)
	lines := auditLines(ts.logs.String(), mark)
	if len(lines) != 1 || lines[0]["outcome"] != "throttled" || lines[0]["app"] != "app2.example.test" {
		t.Fatalf("audit lines %v; want one throttled sign_in with app=app2.example.test", lines)
	}
}

func TestAccountShowsGroups(t *testing.T) {
	_, alice, bob := newForwardServer(t)
	if page := body(t, bob.get("/account")); !strings.Contains(page, "<dt>Groups</dt><dd>admins</dd>") {
		t.Fatalf("account page of bob does not show his group:\n%s", page)
	}
	if page := body(t, alice.get("/account")); !strings.Contains(page, "<dt>Groups</dt><dd>none</dd>") {
		t.Fatal("account page of alice does not say she has no groups")
	}
}
