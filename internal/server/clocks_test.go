package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/session"
)

// The three clocks under test: the ordinary session's idle timeout and
// lifetime, and the longer ones of a "keep me signed in" session.
const (
	clockIdle           = time.Second
	clockLifetime       = 3 * time.Second
	clockRememberIdle   = 2500 * time.Millisecond
	clockRememberLife   = 6 * time.Second
	clockRefresh        = 100 * time.Millisecond
	clockMargin         = 300 * time.Millisecond // past a deadline before checking it passed
	clockExactTolerance = 5 * time.Millisecond
)

func clockConfig(remember bool) session.Config {
	c := session.Config{Lifetime: clockLifetime, IdleTimeout: clockIdle, RefreshInterval: clockRefresh, RememberIdleTimeout: clockRememberIdle}
	if remember {
		c.RememberLifetime = clockRememberLife
	}
	return c
}

// clockEntry is the current session as GET /api/sessions shows it, with
// millisecond precision.
type clockEntry struct {
	SignedInAt time.Time `json:"signed_in_at"`
	LastSeen   time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Remember   bool      `json:"remember"`
	Current    bool      `json:"current"`
}

func (c *client) currentSession() clockEntry {
	c.t.Helper()
	resp := c.get("/api/sessions")
	wantStatus(c.t, resp, http.StatusOK)
	var out struct{ Sessions []clockEntry }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatal(err)
	}
	for _, e := range out.Sessions {
		if e.Current {
			return e
		}
	}
	c.t.Fatalf("no session marked current in %+v", out.Sessions)
	return clockEntry{}
}

// meExpires returns expires_at of GET /api/me (whole seconds).
func (c *client) meExpires() time.Time {
	c.t.Helper()
	resp := c.get("/api/me")
	wantStatus(c.t, resp, http.StatusOK)
	var out struct {
		User struct {
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"user"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatal(err)
	}
	return out.User.ExpiresAt
}

// clockSignIn signs a new client in (form, or JSON when asJSON) and returns
// it with the session cookie the response set.
func clockSignIn(t *testing.T, ts *testServer, remember, asJSON bool) (*client, *http.Cookie) {
	t.Helper()
	c := ts.client(t)
	var resp *http.Response
	if asJSON {
		payload := `{"username":"alice","password":"password one","remember":false}`
		if remember {
			payload = strings.Replace(payload, "false", "true", 1)
		}
		resp = c.do(http.MethodPost, "/login", strings.NewReader(payload), "Content-Type", "application/json")
		wantStatus(t, resp, http.StatusOK)
	} else {
		form := url.Values{"username": {"alice"}, "password": {"password one"}}
		if remember {
			form.Set("remember", "on")
		}
		resp = c.postForm("/login", form)
		wantStatus(t, resp, http.StatusSeeOther)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == session.CookieName && ck.Value != "" {
			return c, ck
		}
	}
	t.Fatal("sign-in set no session cookie")
	return nil, nil
}

func persistent(ck *http.Cookie) bool {
	return ck.MaxAge != 0 || ck.RawExpires != "" || !ck.Expires.IsZero()
}

// replay asks /api/me with a bare copy of token, so that what the server
// decides is tested, not whether the client's jar dropped an expired cookie.
func replay(t *testing.T, ts *testServer, token string) int {
	t.Helper()
	c := ts.client(t)
	c.setCookie(token)
	resp := c.get("/api/me")
	resp.Body.Close()
	return resp.StatusCode
}

// sleepUntil sleeps until at.
func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

// within reports whether a and b are at most d apart.
func within(a, b time.Time, d time.Duration) bool {
	diff := a.Sub(b)
	return diff <= d && diff >= -d
}

// L3, L4 with "keep me signed in": an ordinary session has a browser-session
// cookie and ends when idle; a remembered one has a persistent cookie, its
// own idle timeout, and still ends at its absolute lifetime.
func TestSessionClocks(t *testing.T) {
	t.Parallel() // mostly waiting on clocks
	ts := newTestServer(t, func(o *testOptions) { o.session = clockConfig(true) })
	ts.addUser(t, "alice", "password one")

	t.Run("ordinary session ends when idle", func(t *testing.T) {
		t.Parallel()
		c, ck := clockSignIn(t, ts, false, false)
		if persistent(ck) {
			t.Errorf("ordinary session cookie is persistent (Max-Age %d, Expires %q): want a browser-session cookie", ck.MaxAge, ck.RawExpires)
		}
		e := c.currentSession()
		if e.Remember || e.ExpiresAt.Sub(e.LastSeen) != clockIdle {
			t.Errorf("ordinary session: remember=%v, ends %v after last use, want false and %v", e.Remember, e.ExpiresAt.Sub(e.LastSeen), clockIdle)
		}
		if exp := c.meExpires(); exp.After(time.Now().Add(clockIdle)) {
			t.Errorf("/api/me expires_at %v is beyond the idle timeout from now", exp)
		}
		last := time.Now()
		sleepUntil(last.Add(clockIdle + 200*time.Millisecond))
		wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
		if code := replay(t, ts, ck.Value); code != http.StatusUnauthorized {
			t.Errorf("replayed idle token: status %d, want 401", code)
		}
	})

	t.Run("remembered session outlives the idle timeout but not its lifetime", func(t *testing.T) {
		t.Parallel()
		c, ck := clockSignIn(t, ts, true, false)
		e := c.currentSession()
		start := e.SignedInAt // the server's sign-in time, to the millisecond
		if !persistent(ck) || ck.MaxAge <= 0 || ck.MaxAge > int((clockRememberLife+time.Second)/time.Second) {
			t.Errorf("remembered session cookie: Max-Age %d, want a persistent cookie for the %v lifetime", ck.MaxAge, clockRememberLife)
		}
		if !ck.Expires.IsZero() && !within(ck.Expires, start.Add(clockRememberLife), 2*time.Second) {
			t.Errorf("remembered session cookie expires %v, want about %v", ck.Expires, start.Add(clockRememberLife))
		}
		if !e.Remember || e.ExpiresAt.Sub(e.LastSeen) != clockRememberIdle {
			t.Errorf("remembered session: remember=%v, ends %v after last use, want true and %v", e.Remember, e.ExpiresAt.Sub(e.LastSeen), clockRememberIdle)
		}
		// expires_at is in whole seconds, and the last refresh may be up to
		// one refresh interval old.
		before := time.Now()
		if exp := c.meExpires(); exp.Before(before.Add(clockRememberIdle-time.Second-2*clockRefresh)) || exp.After(time.Now().Add(clockRememberIdle)) {
			t.Errorf("/api/me expires_at %v: want the remembered idle clock, about %v", exp, before.Add(clockRememberIdle))
		}

		// Unused for longer than the ordinary idle timeout: still signed in.
		sleepUntil(time.Now().Add(clockIdle + 500*time.Millisecond))
		wantStatus(t, c.get("/api/me"), http.StatusOK)

		// Active all along, it still ends at its lifetime. Once the idle
		// deadline would pass the absolute one, the absolute one shows.
		sawCap := false
		for time.Since(start) < clockRememberLife-1500*time.Millisecond {
			time.Sleep(400 * time.Millisecond)
			wantStatus(t, c.get("/api/me"), http.StatusOK)
			if time.Since(start) > clockRememberLife-clockRememberIdle+200*time.Millisecond && !sawCap {
				sawCap = true
				if e := c.currentSession(); e.ExpiresAt.Sub(start) < clockRememberLife || e.ExpiresAt.Sub(start) > clockRememberLife+clockExactTolerance {
					t.Errorf("near its end the session is listed to end %v after sign-in, want the %v lifetime", e.ExpiresAt.Sub(start), clockRememberLife)
				}
				if exp := c.meExpires(); !within(exp, start.Add(clockRememberLife), time.Second) {
					t.Errorf("/api/me expires_at %v near the end, want the absolute deadline %v", exp, start.Add(clockRememberLife))
				}
			}
		}
		if !sawCap {
			t.Fatal("the activity loop never reached the capped phase")
		}
		sleepUntil(start.Add(clockRememberLife + clockMargin))
		if code := replay(t, ts, ck.Value); code != http.StatusUnauthorized {
			t.Fatalf("remembered session %v after sign-in, active throughout: status %d, want 401 (the absolute lifetime)", time.Since(start), code)
		}
		if n, err := redis.Int(ts.redis.Conn(t).Do("EXISTS", session.RecordKey(ts.prefix, ck.Value))); err != nil || n != 0 {
			t.Errorf("the record of the ended session still exists (%d, %v)", n, err)
		}
	})

	t.Run("remembered session ends after its own idle timeout", func(t *testing.T) {
		t.Parallel()
		c, ck := clockSignIn(t, ts, true, true) // JSON "remember": true
		if !persistent(ck) {
			t.Error("JSON remember: the cookie is not persistent")
		}
		if e := c.currentSession(); !e.Remember {
			t.Error("JSON remember: the session is not listed as remembered")
		}
		last := time.Now()
		sleepUntil(last.Add(clockRememberIdle + clockMargin))
		if code := replay(t, ts, ck.Value); code != http.StatusUnauthorized {
			t.Fatalf("remembered session idle for %v: status %d, want 401", time.Since(last), code)
		}
	})
}

// Without a remembered lifetime configured, "remember" changes nothing: a
// browser-session cookie and the ordinary idle timeout and lifetime.
func TestRememberWithoutRememberLifetime(t *testing.T) {
	t.Parallel() // mostly waiting on clocks
	ts := newTestServer(t, func(o *testOptions) { o.session = clockConfig(false) })
	ts.addUser(t, "alice", "password one")

	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		c, ck := clockSignIn(t, ts, true, false)
		if persistent(ck) {
			t.Errorf("remember=on without a remembered lifetime gave a persistent cookie (Max-Age %d, Expires %q)", ck.MaxAge, ck.RawExpires)
		}
		e := c.currentSession()
		if e.Remember || e.ExpiresAt.Sub(e.LastSeen) != clockIdle {
			t.Errorf("session: remember=%v, ends %v after last use, want false and %v", e.Remember, e.ExpiresAt.Sub(e.LastSeen), clockIdle)
		}
		if exp := c.meExpires(); exp.After(time.Now().Add(clockIdle)) {
			t.Errorf("/api/me expires_at %v is beyond the ordinary idle timeout", exp)
		}
		last := time.Now()
		sleepUntil(last.Add(clockIdle + 200*time.Millisecond))
		wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
	})

	t.Run("lifetime", func(t *testing.T) {
		t.Parallel()
		c, ck := clockSignIn(t, ts, true, true)
		start := c.currentSession().SignedInAt
		for time.Since(start) < clockLifetime-time.Second {
			time.Sleep(300 * time.Millisecond)
			wantStatus(t, c.get("/api/me"), http.StatusOK)
		}
		sleepUntil(start.Add(clockLifetime + clockMargin))
		if code := replay(t, ts, ck.Value); code != http.StatusUnauthorized {
			t.Fatalf("remember=true, active, %v after sign-in: status %d, want 401 (the ordinary lifetime)", time.Since(start), code)
		}
	})
}

// The sign-in form offers "keep me signed in" only when it is configured.
func TestRememberChoiceShownOnlyWhenConfigured(t *testing.T) {
	for _, on := range []bool{true, false} {
		ts := newTestServer(t, func(o *testOptions) { o.session = clockConfig(on) })
		page := body(t, ts.client(t).get("/login"))
		if got := strings.Contains(page, `name="remember"`); got != on {
			t.Errorf("remember lifetime configured: %v; checkbox shown: %v", on, got)
		}
	}
}
