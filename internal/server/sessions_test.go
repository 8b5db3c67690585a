package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/session"
)

// listedSession is one entry of GET /api/sessions.
type listedSession struct {
	ID         string    `json:"id"`
	SignedInAt time.Time `json:"signed_in_at"`
	LastSeen   time.Time `json:"last_seen_at"`
	ClientAddr string    `json:"client_addr"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

func (c *client) sessions() []listedSession {
	c.t.Helper()
	resp := c.get("/api/sessions")
	wantStatus(c.t, resp, http.StatusOK)
	var out struct{ Sessions []listedSession }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatal(err)
	}
	return out.Sessions
}

// loginAs signs a new client in as an existing user.
func (ts *testServer) loginAs(t testing.TB, name, pw string, header ...string) *client {
	t.Helper()
	c := ts.client(t)
	wantStatus(t, c.login(name, pw, header...), http.StatusSeeOther)
	return c
}

func TestListAndRevokeSessions(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser(t, "alice", "password one")
	laptop := ts.loginAs(t, "alice", "password one", "User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")
	phone := ts.loginAs(t, "alice", "password one", "User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile/15E148 Safari/604.1")
	tablet := ts.loginAs(t, "alice", "password one")

	list := laptop.sessions()
	if len(list) != 3 {
		t.Fatalf("listed %d sessions, want 3: %+v", len(list), list)
	}
	// Newest first, exactly one marked current, summaries not raw headers.
	if list[2].UserAgent != "Firefox on Linux" || !list[2].Current || list[0].Current || list[1].Current {
		t.Errorf("list from the laptop: %+v", list)
	}
	if list[1].UserAgent != "Safari on iOS" || list[0].ClientAddr != "127.0.0.1" {
		t.Errorf("list entries: %+v", list)
	}
	for _, e := range list {
		// A public id is not part of any token, and is no credential.
		for _, c := range []*client{laptop, phone, tablet} {
			if strings.Contains(c.sessionCookie(), e.ID) {
				t.Fatalf("session id %q is part of a token", e.ID)
			}
		}
		stranger := ts.client(t)
		wantStatus(t, stranger.get("/api/me", "Authorization", "Bearer "+e.ID), http.StatusUnauthorized)
	}

	// The HTML page marks this device and offers revocation.
	page := body(t, laptop.get("/account/sessions"))
	if !strings.Contains(page, "This device") || strings.Count(page, "/revoke\"") != 3 || !strings.Contains(page, "End all other sessions") {
		t.Errorf("sessions page lacks the marker or the buttons:\n%s", page)
	}

	// End the phone's session from the laptop: the phone is signed out on
	// its very next request, the others are not.
	phoneID := list[1].ID
	resp := laptop.postForm("/account/sessions/"+phoneID+"/revoke", nil)
	wantStatus(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/account/sessions" {
		t.Errorf("after revoking another session: Location %q", loc)
	}
	wantStatus(t, phone.get("/api/me"), http.StatusUnauthorized)
	wantStatus(t, tablet.get("/api/me"), http.StatusOK)
	if got := laptop.sessions(); len(got) != 2 {
		t.Errorf("after revoke: %d sessions listed, want 2", len(got))
	}
	// Revoking it again: 404, nothing else touched.
	wantStatus(t, laptop.postForm("/api/sessions/"+phoneID+"/revoke", nil), http.StatusNotFound)

	// Sign out everywhere else (JSON): the tablet goes, the laptop stays.
	resp = laptop.do(http.MethodPost, "/api/sessions/revoke-others", nil)
	wantStatus(t, resp, http.StatusOK)
	if b := body(t, resp); !strings.Contains(b, `"revoked":1`) {
		t.Errorf("revoke-others answered %s", b)
	}
	wantStatus(t, tablet.get("/api/me"), http.StatusUnauthorized)
	wantStatus(t, laptop.get("/api/me"), http.StatusOK)
	if len(ts.sessionKeys(t)) != 1 {
		t.Errorf("session records left: %q, want only the laptop's", ts.sessionKeys(t))
	}

	// Revoking one's own session signs out and clears the cookie and site data.
	own := laptop.sessions()[0].ID
	resp = laptop.postForm("/account/sessions/"+own+"/revoke", nil)
	wantStatus(t, resp, http.StatusSeeOther)
	if resp.Header.Get("Location") != "/login?signed-out" || resp.Header.Get("Clear-Site-Data") == "" {
		t.Errorf("revoking the current session: Location %q, Clear-Site-Data %q", resp.Header.Get("Location"), resp.Header.Get("Clear-Site-Data"))
	}
	wantStatus(t, laptop.get("/api/me"), http.StatusUnauthorized)
}

// X2: one user's session can never read or end another user's sessions.
func TestCannotTouchAnotherUsersSessions(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.signedIn(t, "alice", "password one")
	bob := ts.signedIn(t, "bob", "password two")
	aliceID := alice.sessions()[0].ID

	for _, path := range []string{"/account/sessions/" + aliceID + "/revoke", "/api/sessions/" + aliceID + "/revoke"} {
		wantStatus(t, bob.postForm(path, nil), http.StatusNotFound)
	}
	// Bob's "everyone else" is only his own other sessions.
	wantStatus(t, bob.postForm("/api/sessions/revoke-others", nil), http.StatusOK)
	wantStatus(t, alice.get("/api/me"), http.StatusOK)
	// Bob's list holds only Bob's session.
	if list := bob.sessions(); len(list) != 1 || list[0].ID == aliceID {
		t.Errorf("bob's list: %+v", list)
	}
	// Junk ids are 404 too, never 500.
	for _, id := range []string{"x", strings.Repeat("A", 500), "%00", "..%2f..%2f"} {
		resp := bob.postForm("/api/sessions/"+id+"/revoke", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("revoke %q: status %d, want 404", id, resp.StatusCode)
		}
	}
}

// A revocation or password change on one instance is seen by the other on
// the very next request.
func TestRevocationSeenByOtherInstance(t *testing.T) {
	a := newTestServer(t)
	b := a.sibling(t)
	a.addUser(t, "alice", "password one")
	onA := a.loginAs(t, "alice", "password one")
	onB := b.loginAs(t, "alice", "password one")
	// Each instance lists both sessions.
	if len(onA.sessions()) != 2 || len(onB.sessions()) != 2 {
		t.Fatal("instances disagree on the session list")
	}
	// A ends B's client's session; B refuses it at once.
	var target string
	for _, e := range onA.sessions() {
		if !e.Current {
			target = e.ID
		}
	}
	wantStatus(t, onA.postForm("/api/sessions/"+target+"/revoke", nil), http.StatusOK)
	wantStatus(t, onB.get("/api/me"), http.StatusUnauthorized)

	// A password change on B ends A's sessions.
	onB = b.loginAs(t, "alice", "password one")
	resp := onB.postForm("/account/password", url.Values{"current_password": {"password one"}, "new_password": {"password two"}, "confirm_password": {"password two"}})
	wantStatus(t, resp, http.StatusSeeOther)
	wantStatus(t, onA.get("/api/me"), http.StatusUnauthorized)
	wantStatus(t, onB.get("/api/me"), http.StatusOK)
}

func TestPasswordChange(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser(t, "alice", "password one")
	here := ts.loginAs(t, "alice", "password one")
	elsewhere := ts.loginAs(t, "alice", "password one")
	before := here.sessionCookie()

	// Wrong current password: 401, nothing changes.
	resp := here.postForm("/account/password", url.Values{"current_password": {"guess"}, "new_password": {"password two"}})
	wantStatus(t, resp, http.StatusUnauthorized)
	if b := body(t, resp); !strings.Contains(b, "not your current password") || strings.Contains(b, "password two") {
		t.Errorf("wrong current password page:\n%s", b)
	}
	// The owner sees the attempt in the account's activity.
	if b := body(t, here.get("/api/activity")); !strings.Contains(b, `"kind":"password_change_failed"`) {
		t.Errorf("activity lacks the failed password change: %s", b)
	}
	// Validation: too short, mismatched confirmation.
	wantStatus(t, here.postForm("/account/password", url.Values{"current_password": {"password one"}, "new_password": {"short"}}), http.StatusUnprocessableEntity)
	wantStatus(t, here.postForm("/account/password", url.Values{"current_password": {"password one"}, "new_password": {"password two"}, "confirm_password": {"password 2"}}), http.StatusUnprocessableEntity)
	wantStatus(t, elsewhere.get("/api/me"), http.StatusOK)

	// The change (JSON): this session continues under a new token, every
	// other one ends, the old password stops working.
	resp = here.do(http.MethodPost, "/api/password", strings.NewReader(`{"current_password":"password one","new_password":"password two"}`), "Content-Type", "application/json")
	wantStatus(t, resp, http.StatusOK)
	// One other session ended (elsewhere); this one's old token, renewed,
	// is not counted.
	if b := body(t, resp); !strings.Contains(b, `"sessions_ended":1`) {
		t.Errorf("password change answered %s", b)
	}
	after := here.sessionCookie()
	if after == "" || after == before {
		t.Fatal("the token was not renewed by the password change (L6)")
	}
	wantStatus(t, here.get("/api/me"), http.StatusOK)
	wantStatus(t, elsewhere.get("/api/me"), http.StatusUnauthorized)
	replay := ts.client(t)
	replay.setCookie(before)
	wantStatus(t, replay.get("/api/me"), http.StatusUnauthorized)
	wantStatus(t, ts.client(t).login("alice", "password one"), http.StatusUnauthorized)
	wantStatus(t, ts.client(t).login("alice", "password two"), http.StatusSeeOther)
	if u, _ := ts.users.ByName(t.Context(), "alice"); u.Epoch != 1 {
		t.Errorf("credential epoch = %d, want 1", u.Epoch)
	}
}

// The activity page shows what happened to the account.
func TestActivity(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser(t, "alice", "password one")
	wantStatus(t, ts.client(t).login("alice", "wrong password", "User-Agent", "curl/8.0"), http.StatusUnauthorized)
	other := ts.loginAs(t, "alice", "password one")
	c := ts.loginAs(t, "alice", "password one")
	wantStatus(t, c.postForm("/api/sessions/revoke-others", nil), http.StatusOK)
	wantStatus(t, c.postForm("/account/password", url.Values{"current_password": {"password one"}, "new_password": {"password two"}}), http.StatusSeeOther)
	wantStatus(t, c.postForm("/logout", nil), http.StatusSeeOther)
	_ = other

	c = ts.loginAs(t, "alice", "password two")
	resp := c.get("/api/activity")
	wantStatus(t, resp, http.StatusOK)
	var out struct {
		Activity []struct {
			Kind       string `json:"kind"`
			ClientAddr string `json:"client_addr"`
			UserAgent  string `json:"user_agent"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range out.Activity {
		kinds = append(kinds, e.Kind)
	}
	// The password change is one event: the session it renews under a new
	// token is no new sign-in.
	want := []string{"sign_in", "sign_out", "password_changed", "session_revoked", "sign_in", "sign_in", "sign_in_failed"}
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Errorf("activity kinds (newest first) = %v, want %v", kinds, want)
	}
	if last := out.Activity[len(out.Activity)-1]; last.ClientAddr != "127.0.0.1" || last.UserAgent != "curl/8.0" {
		t.Errorf("failed attempt recorded as %+v", last)
	}
	page := body(t, c.get("/account/activity"))
	for _, label := range []string{"Failed sign-in attempt", "Password changed", "Session ended", "Signed out"} {
		if !strings.Contains(page, label) {
			t.Errorf("activity page lacks %q", label)
		}
	}
	// Another user sees none of it.
	bob := ts.signedIn(t, "bob", "password three")
	if b := body(t, bob.get("/api/activity")); strings.Count(b, `"kind"`) != 1 {
		t.Errorf("bob's activity: %s", b)
	}
}

func TestSessionCapEndsOldest(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.session.MaxSessions = 2 })
	ts.addUser(t, "alice", "password one")
	first := ts.loginAs(t, "alice", "password one")
	time.Sleep(5 * time.Millisecond) // distinct sign-in times
	second := ts.loginAs(t, "alice", "password one")
	time.Sleep(5 * time.Millisecond)
	third := ts.loginAs(t, "alice", "password one")
	wantStatus(t, first.get("/api/me"), http.StatusUnauthorized)
	wantStatus(t, second.get("/api/me"), http.StatusOK)
	wantStatus(t, third.get("/api/me"), http.StatusOK)
	if n := len(third.sessions()); n != 2 {
		t.Errorf("%d sessions listed under a cap of 2", n)
	}
	if !strings.Contains(ts.logs.String(), "reason=\"session cap\"") {
		t.Error("no audit line for the session ended by the cap")
	}
}

// Index entries disappear with their sessions, and every key expires.
func TestIndexPrunedAndBounded(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *testOptions) {
		o.session = session.Config{Lifetime: 8 * time.Second, IdleTimeout: 3 * time.Second, RefreshInterval: 100 * time.Millisecond}
	})
	const idle, refresh = 3 * time.Second, 100 * time.Millisecond
	ts.addUser(t, "alice", "password one")
	// Deadlines from measured times (see lifecycle_test.go): the first
	// session lasts at least until its sign-in was sent + idle - refresh.
	start := time.Now()
	keep := ts.loginAs(t, "alice", "password one")
	ts.loginAs(t, "alice", "password one")
	ts.loginAs(t, "alice", "password one")
	conn := ts.redis.Conn(t)
	index := session.IndexKey(ts.prefix, 1)
	n, _ := redis.Int(conn.Do("ZCARD", index))
	if took := time.Since(start); took >= idle-refresh {
		t.Skipf("three sign-ins took %v, past the first one's idle timeout: too slow a machine to see the index hold them all", took)
	}
	if n != 3 {
		t.Fatalf("index holds %d entries, want 3", n)
	}
	// Two sessions go idle; the third stays active (each request within
	// idle - refresh of the previous one's sending keeps it).
	last := exchange{sent: start}
	for range 25 {
		time.Sleep(150 * time.Millisecond)
		e := getMe(keep)
		if e.status != http.StatusOK {
			if e.recv.Before(last.sent.Add(idle - refresh)) {
				t.Fatalf("status %d, want 200: the active session must stay", e.status)
			}
			t.Skipf("a request took until %v after the previous one: too slow a machine to keep a 3 s idle session", e.recv.Sub(last.sent))
		}
		last = e
	}
	if list := keep.sessions(); len(list) != 1 || !list[0].Current {
		t.Fatalf("after two sessions expired: %+v", list)
	}
	if n, _ := redis.Int(conn.Do("ZCARD", index)); n != 1 {
		t.Errorf("index holds %d entries after listing, want 1 (expired ones pruned)", n)
	}
	for _, k := range ts.allKeys(t) {
		if ttl, _ := redis.Int64(conn.Do("PTTL", k)); ttl <= 0 || ttl > 8000 {
			t.Errorf("key %q has TTL %d ms: every key must expire within the lifetime", k, ttl)
		}
	}
	// Once every session is over, nothing of the user is left.
	deadline := time.Now().Add(10 * time.Second)
	for len(ts.allKeys(t)) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if keys := ts.allKeys(t); len(keys) != 0 {
		t.Errorf("keys left after every session ended: %q", keys)
	}
}

// A record from before the per-user index (scs's gob encoding) could be
// neither listed nor revoked: it is treated as signed out and deleted.
func TestUnindexedOldRecordIsSignedOut(t *testing.T) {
	ts := newTestServer(t)
	token := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	old, err := scs.GobCodec{}.Encode(time.Now().Add(time.Hour), map[string]any{
		"uid": int64(1), "name": "alice", "auth": time.Now().UnixMilli(), "seen": time.Now().UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	key := session.RecordKey(ts.prefix, token)
	if _, err := ts.redis.Conn(t).Do("SET", key, old, "EX", 3600); err != nil {
		t.Fatal(err)
	}
	c := ts.client(t)
	c.setCookie(token)
	wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
	if n, _ := redis.Int(ts.redis.Conn(t).Do("EXISTS", key)); n != 0 {
		t.Error("the old record was kept")
	}
}

// A malformed cookie does not hide a valid bearer token; the static
// directory is not listed.
func TestBearerBesideJunkCookieAndNoStaticListing(t *testing.T) {
	ts := newTestServer(t)
	token := ts.signedIn(t, "alice", "password one").sessionCookie()
	c := ts.client(t)
	c.setCookie("junk")
	wantStatus(t, c.get("/api/me", "Authorization", "Bearer "+token), http.StatusOK)
	wantStatus(t, c.get("/static/"), http.StatusNotFound)
	wantStatus(t, c.get("/static/style.css"), http.StatusOK)
}

// Signing out removes the session's index entry in the same step as the
// record: after a user's last sign-out nothing of theirs is left in Redis
// (the index used to stay for the session's whole lifetime).
func TestSignOutLeavesNoIndex(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.addUser(t, "alice", "password one")
	c := ts.client(t)
	wantStatus(t, c.postForm("/login", url.Values{"username": {"alice"}, "password": {"password one"}, "remember": {"on"}}), http.StatusSeeOther)
	if n, _ := redis.Int(ts.redis.Conn(t).Do("ZCARD", session.IndexKey(ts.prefix, 1))); n != 1 {
		t.Fatalf("index holds %d entries after sign-in, want 1", n)
	}
	wantStatus(t, c.do(http.MethodPost, "/logout", nil), http.StatusSeeOther)
	for _, k := range ts.allKeys(t) {
		if !strings.HasPrefix(k, ts.prefix+"throttle:") {
			t.Errorf("key %q left after the user's last sign-out", k)
		}
	}
}
