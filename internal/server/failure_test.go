package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/user"
)

func TestRedisDownThenBack(t *testing.T) {
	t.Parallel() // mostly waiting on clocks
	ts := newTestServer(t)
	c := ts.signedIn(t, "alice", "password one")
	anon := ts.client(t)

	ts.redis.Stop(t)

	resp := c.get("/account")
	wantStatus(t, resp, http.StatusServiceUnavailable)
	if !strings.Contains(body(t, resp), "temporarily unavailable") || resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 page must say what happened and when to retry")
	}
	wantStatus(t, c.get("/api/me"), http.StatusServiceUnavailable)
	// Signing in or out cannot be done honestly without Redis.
	wantStatus(t, anon.login("alice", "password one"), http.StatusServiceUnavailable)
	wantStatus(t, c.postForm("/logout", nil), http.StatusServiceUnavailable)
	// Sign-up refuses before creating an account it could not sign in to.
	wantStatus(t, anon.postForm("/signup", url.Values{"username": {"bob"}, "password": {"password two"}}), http.StatusServiceUnavailable)
	if _, err := ts.users.ByName(context.Background(), "bob"); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("sign-up with Redis down created the user (lookup: %v)", err)
	}
	// Public pages still work, and readiness says what is wrong.
	resp = anon.get("/")
	wantStatus(t, resp, http.StatusOK)
	wantStatus(t, anon.get("/healthz"), http.StatusOK)
	resp = anon.get("/readyz")
	wantStatus(t, resp, http.StatusServiceUnavailable)
	var ready struct {
		Checks map[string]string `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil {
		t.Fatal(err)
	}
	if ready.Checks["redis"] != "unavailable" || ready.Checks["database"] != "ok" {
		t.Fatalf("readyz checks %v", ready.Checks)
	}

	// Redis returns (empty: it keeps nothing on disk). The server recovers
	// without a restart; the old session is gone, so the user signs in again.
	ts.redis.Start(t)
	deadline := time.Now().Add(5 * time.Second)
	for anon.get("/readyz").StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("server did not recover within 5s of Redis returning")
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
	wantStatus(t, c.login("alice", "password one"), http.StatusSeeOther)
	wantStatus(t, c.get("/account"), http.StatusOK)
	if strings.Contains(ts.logs.String(), "level=ERROR") {
		t.Fatalf("Redis going away must not log errors as internal failures:\n%s", ts.logs.String())
	}
}

func TestDatabaseDown(t *testing.T) {
	ts := newTestServer(t)
	c := ts.signedIn(t, "alice", "password one")
	ts.db.Close()

	// Sign-in needs the database: 503, not "wrong password".
	resp := ts.client(t).login("alice", "password one", "Accept", "application/json")
	wantStatus(t, resp, http.StatusServiceUnavailable)
	resp = ts.client(t).login("nobody", "password one")
	wantStatus(t, resp, http.StatusServiceUnavailable)
	// Signed-in pages that need only the session keep working.
	resp = c.get("/account")
	wantStatus(t, resp, http.StatusOK)
	if !strings.Contains(body(t, resp), "<dt>Groups</dt><dd>unavailable right now</dd>") {
		t.Error("the account page does not say the groups are unknown")
	}
	wantStatus(t, c.get("/api/me"), http.StatusOK)
	wantStatus(t, c.get("/readyz"), http.StatusServiceUnavailable)
}

func TestStalledRedisTimesOut(t *testing.T) {
	t.Parallel() // mostly waiting on clocks
	ts := newTestServer(t, func(o *testOptions) { o.redisArg = []string{"--enable-debug-command", "yes"} })
	c := ts.signedIn(t, "alice", "password one")
	// DEBUG SLEEP blocks the server; the pool's read timeout (2s in the
	// test pool) must turn that into a 503, not a hung request.
	conn := ts.redis.Conn(t)
	go conn.Do("DEBUG", "SLEEP", "4")
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	wantStatus(t, c.get("/api/me"), http.StatusServiceUnavailable)
	if d := time.Since(start); d > 3500*time.Millisecond {
		t.Fatalf("request took %v while Redis stalled; want the read timeout to end it", d)
	}
}

// /readyz checks each dependency with its own time: a hung Redis is
// reported, the database is not blamed with it.
func TestReadyzBlamesOnlyTheHungDependency(t *testing.T) {
	t.Parallel() // mostly waiting on clocks
	ts := newTestServer(t, func(o *testOptions) { o.redisArg = []string{"--enable-debug-command", "yes"} })
	go ts.redis.Conn(t).Do("DEBUG", "SLEEP", "4")
	time.Sleep(100 * time.Millisecond)
	resp := ts.client(t).get("/readyz")
	wantStatus(t, resp, http.StatusServiceUnavailable)
	if b := body(t, resp); !strings.Contains(b, `"database":"ok"`) || !strings.Contains(b, `"redis":"unavailable"`) {
		t.Errorf("/readyz with Redis hung: %s", b)
	}
}
