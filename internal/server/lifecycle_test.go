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

// The idle and lifetime tests run on real clocks, Redis's included, so
// their deadlines are set from measured events rather than assumed speed: a
// request must find its session alive only when the server handled it (at
// the latest when its answer came) before the earliest moment the session
// could have ended; a request sent after the latest moment the session could
// have lasted must find it gone. A step the machine was too slow to decide
// is left out, and each test needs enough decided steps to pass.

// exchange is one request: when it was sent, when its answer came, and the
// status.
type exchange struct {
	sent, recv time.Time
	status     int
}

func getMe(c *client) exchange {
	c.t.Helper()
	sent := time.Now()
	resp := c.get("/api/me")
	resp.Body.Close()
	return exchange{sent: sent, recv: time.Now(), status: resp.StatusCode}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel() // mostly waiting on clocks
	const idle, refresh = 1500 * time.Millisecond, 100 * time.Millisecond
	ts := newTestServer(t, func(o *testOptions) {
		o.session = session.Config{Lifetime: time.Hour, IdleTimeout: idle, RefreshInterval: refresh}
	})
	ts.addUser(t, "alice", "password one")
	c := ts.client(t)
	sent := time.Now()
	wantStatus(t, c.login("alice", "password one"), http.StatusSeeOther)
	last := exchange{sent: sent, recv: time.Now(), status: http.StatusOK}

	// Activity keeps the session alive past the idle limit: after a request
	// handled at h the session lasts at least until h + idle - refresh (it
	// was written at most one refresh interval before), and h >= sent.
	decided := 0
	for start := time.Now(); time.Since(start) < 4*idle || decided < 4; {
		if time.Since(start) > time.Minute {
			t.Fatalf("only %d of the keep-alive steps could be decided in a minute: the machine is too slow for this test", decided)
		}
		time.Sleep(400 * time.Millisecond)
		e := getMe(c)
		mustLive := e.recv.Before(last.sent.Add(idle - refresh))
		switch {
		case e.status == http.StatusOK:
			if mustLive {
				decided++
			}
		case mustLive:
			t.Fatalf("status %d %v after the previous request was sent, want 200: activity keeps the session alive", e.status, e.sent.Sub(last.sent))
		default:
			// Too slow to tell: sign in again and go on.
			sent := time.Now()
			wantStatus(t, c.login("alice", "password one"), http.StatusSeeOther)
			e = exchange{sent: sent, recv: time.Now(), status: http.StatusOK}
		}
		last = e
	}
	// ...and a pause longer than the limit ends it: the last write was at
	// the latest when the last answer came.
	sleepUntil(last.recv.Add(idle + 200*time.Millisecond))
	wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
	if n := len(ts.sessionKeys(t)); n != 0 {
		t.Fatalf("%d session keys left after idle expiry, want 0", n)
	}
}

func TestAbsoluteLifetime(t *testing.T) {
	t.Parallel() // mostly waiting on clocks
	const lifetime, idle, refresh = 2 * time.Second, time.Second, 50 * time.Millisecond
	ts := newTestServer(t, func(o *testOptions) {
		o.session = session.Config{Lifetime: lifetime, IdleTimeout: idle, RefreshInterval: refresh}
	})
	ts.addUser(t, "alice", "password one")
	c := ts.client(t)
	signInSent := time.Now()
	wantStatus(t, c.login("alice", "password one"), http.StatusSeeOther)
	signInRecv := time.Now()

	// Requests keep it alive while both its lifetime (from the sign-in) and
	// its idle timeout (from the previous request) certainly run.
	prevSent, decided := signInSent, 0
	for time.Now().Before(signInSent.Add(lifetime - 200*time.Millisecond)) {
		e := getMe(c)
		mustLive := e.recv.Before(signInSent.Add(lifetime)) && e.recv.Before(prevSent.Add(idle-refresh))
		if e.status != http.StatusOK {
			if mustLive {
				t.Fatalf("status %d %v after the sign-in, want 200", e.status, e.sent.Sub(signInSent))
			}
			break // too slow to tell
		}
		if mustLive {
			decided++
		}
		prevSent = e.sent
		time.Sleep(200 * time.Millisecond)
	}
	// However active, it ends at its lifetime: the session was created at
	// the latest when the sign-in's answer came.
	sleepUntil(signInRecv.Add(lifetime + 100*time.Millisecond))
	wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
	if decided == 0 {
		t.Skip("no request was answered fast enough to show that activity keeps the session alive before its lifetime")
	}
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
