package server

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/session"
)

func TestIdleTimeout(t *testing.T) {
	t.Parallel() // mostly waiting on clocks
	ts := newTestServer(t, func(o *testOptions) {
		o.session = session.Config{Lifetime: time.Hour, IdleTimeout: 1500 * time.Millisecond, RefreshInterval: 100 * time.Millisecond}
	})
	c := ts.signedIn(t, "alice", "password one")

	// Activity keeps the session alive past the idle limit...
	for range 6 {
		time.Sleep(400 * time.Millisecond)
		wantStatus(t, c.get("/api/me"), http.StatusOK)
	}
	// ...and a pause longer than the limit ends it.
	time.Sleep(1700 * time.Millisecond)
	wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
	if n := len(ts.sessionKeys(t)); n != 0 {
		t.Fatalf("%d session keys left after idle expiry, want 0", n)
	}
}

func TestAbsoluteLifetime(t *testing.T) {
	t.Parallel() // mostly waiting on clocks
	ts := newTestServer(t, func(o *testOptions) {
		o.session = session.Config{Lifetime: 2 * time.Second, IdleTimeout: time.Second, RefreshInterval: 50 * time.Millisecond}
	})
	c := ts.signedIn(t, "alice", "password one")
	start := time.Now()
	for time.Since(start) < 1800*time.Millisecond {
		wantStatus(t, c.get("/api/me"), http.StatusOK)
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2*time.Second - time.Since(start) + 100*time.Millisecond)
	wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
}

func TestReadOnlyRequestsInsideRefreshIntervalDoNotWrite(t *testing.T) {
	ts := newTestServer(t)
	c := ts.signedIn(t, "alice", "password one")
	conn := ts.redis.Conn(t)
	if _, err := conn.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		wantStatus(t, c.get("/account"), http.StatusOK)
	}
	info, err := conn.Do("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	stats := string(info.([]byte))
	if strings.Contains(stats, "cmdstat_set:") || strings.Contains(stats, "cmdstat_pexpireat:") {
		t.Fatalf("read-only requests wrote to Redis:\n%s", stats)
	}
	if !strings.Contains(stats, "cmdstat_get:calls=20,") {
		t.Fatalf("want exactly 20 GETs for 20 requests:\n%s", stats)
	}
}

// TestSignOutIsFinalUnderConcurrentRequests signs out while many requests of
// the same session are in flight, each of which refreshes (writes) the
// session, since the refresh interval is 1 ms. None may write it back.
func TestSignOutIsFinalUnderConcurrentRequests(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) {
		o.session = session.Config{Lifetime: time.Hour, IdleTimeout: time.Minute, RefreshInterval: time.Millisecond}
	})
	for round := range 5 {
		c := ts.signedIn(t, "user"+strings.Repeat("x", round+1), "password one")
		token := c.sessionCookie()
		var (
			wg       sync.WaitGroup
			stop     atomic.Bool
			served   atomic.Int64
			signedIn = make(chan struct{})
		)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				replay := ts.client(t)
				replay.setCookie(token)
				once := false
				for !stop.Load() {
					resp := replay.get("/api/me")
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						served.Add(1)
						if !once {
							once = true
							signedIn <- struct{}{}
						}
					}
				}
			}()
		}
		for range 16 {
			<-signedIn // every worker is mid-stream before the sign-out
		}
		wantStatus(t, c.postForm("/logout", nil), http.StatusSeeOther)
		time.Sleep(200 * time.Millisecond)
		stop.Store(true)
		wg.Wait()

		if keys := ts.sessionKeys(t); len(keys) != 0 {
			t.Fatalf("round %d: %d session keys after sign-out and %d concurrent requests: the session was written back", round, len(keys), served.Load())
		}
		replay := ts.client(t)
		replay.setCookie(token)
		wantStatus(t, replay.get("/api/me"), http.StatusUnauthorized)
	}
}

func TestMalformedAndForgedCookiesAreSignedOut(t *testing.T) {
	ts := newTestServer(t)
	ts.signedIn(t, "alice", "password one")
	for _, v := range []string{
		"garbage", "", strings.Repeat("A", 43), strings.Repeat("A", 4000), "%00%ff", "a.b.c",
		"eyJhbGciOiJub25lIn0.eyJ1aWQiOjF9.", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	} {
		c := ts.client(t)
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/account", nil)
		req.Header.Set("Cookie", session.CookieName+"="+v)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("cookie %.20q: status %d Location %q, want a redirect to /login", v, resp.StatusCode, resp.Header.Get("Location"))
		}
		resp = c.get("/api/me", "Authorization", "Bearer "+v)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("bearer %.20q: status %d, want 401", v, resp.StatusCode)
		}
	}
}

func TestBearerTokenAndNoTokenInURL(t *testing.T) {
	ts := newTestServer(t)
	c := ts.signedIn(t, "alice", "password one")
	token := c.sessionCookie()
	other := ts.client(t)
	wantStatus(t, other.get("/api/me", "Authorization", "Bearer "+token), http.StatusOK)
	wantStatus(t, other.get("/api/me?session_id="+token), http.StatusUnauthorized)
	wantStatus(t, other.get("/api/me?token="+token), http.StatusUnauthorized)
	if strings.Contains(ts.logs.String(), token) {
		t.Fatal("the token appears in the server log")
	}
}

func TestCookieAttributes(t *testing.T) {
	for _, secure := range []bool{false, true} {
		ts := newTestServer(t, func(o *testOptions) { o.session.CookieSecure = secure })
		ts.addUser(t, "alice", "password one")
		resp := ts.client(t).postForm("/login", url.Values{"username": {"alice"}, "password": {"password one"}, "remember": {"on"}})
		wantStatus(t, resp, http.StatusSeeOther)
		var ck *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == session.CookieName {
				ck = c
			}
		}
		if ck == nil {
			t.Fatal("no session_id cookie set at sign-in")
		}
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" || ck.Secure != secure {
			t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, no Domain, Secure=%v", ck, secure)
		}
		if ck.MaxAge <= 0 {
			t.Fatalf("cookie MaxAge %d, want the remembered session's lifetime", ck.MaxAge)
		}
	}
}
