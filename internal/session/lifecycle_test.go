package session

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/testenv"
)

// request runs fn inside Middleware for a request carrying token (none when
// empty), as a handler would.
func request(t *testing.T, m *Manager, token string, fn func(w http.ResponseWriter, r *http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if token != "" {
		r.AddCookie(&http.Cookie{Name: CookieName, Value: token})
	}
	m.Middleware(http.HandlerFunc(fn)).ServeHTTP(rec, r)
	return rec
}

// current returns the session a request with token finds, and why not.
func current(t *testing.T, m *Manager, token string) (Info, EndReason, error) {
	t.Helper()
	var info Info
	var why EndReason
	var err error
	request(t, m, token, func(w http.ResponseWriter, r *http.Request) {
		info, err = m.Current(r.Context())
		why = m.EndReason(r.Context())
	})
	return info, why, err
}

func signOut(t *testing.T, m *Manager, token string) {
	t.Helper()
	request(t, m, token, func(w http.ResponseWriter, r *http.Request) {
		if err := m.SignOut(r.Context(), w); err != nil {
			t.Errorf("sign out: %v", err)
		}
	})
}

// userKeys lists the keys of user 1 other than tombstones, which are meant
// to outlast the session they describe (for as long as it could have lived).
func userKeys(t *testing.T, conn redis.Conn) []string {
	t.Helper()
	keys, err := redis.Strings(conn.Do("KEYS", "s:*"))
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(keys, func(k string) bool { return strings.Contains(k, "}g:") })
}

// waitGone waits until key has expired in Redis. It waits on Redis's own
// clock, for as long as it takes; the assertions after it do not race it.
func waitGone(t *testing.T, conn redis.Conn, key string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n, err := redis.Int(conn.Do("EXISTS", key)); err != nil || n == 0 {
			return
		}
	}
	t.Fatalf("%s did not expire within a minute", key)
}

// However a session ends, nothing of its user is left in Redis once the
// user has no live session: no record, no index entry, no index key.
func TestNothingLeftAfterEverySessionEnds(t *testing.T) {
	g := Grant{UserID: 1, Name: "alice"}
	noKeys := func(t *testing.T, conn redis.Conn) {
		t.Helper()
		if keys := userKeys(t, conn); len(keys) != 0 {
			t.Errorf("keys left for a user with no live session: %q", keys)
		}
	}
	t.Run("sign-out", func(t *testing.T) {
		m, conn := newTestManager(t, Config{Lifetime: time.Hour, IdleTimeout: time.Minute, RememberLifetime: 720 * time.Hour, RememberIdleTimeout: 168 * time.Hour})
		for _, remember := range []bool{false, true} {
			g := g
			g.Remember = remember
			tok, err := signIn(t, m, g)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := redis.Int(conn.Do("ZCARD", IndexKey("s:", 1))); n != 1 {
				t.Fatalf("index holds %d entries after sign-in, want 1", n)
			}
			signOut(t, m, tok)
			noKeys(t, conn)
		}
	})
	t.Run("sign-in over a session", func(t *testing.T) {
		m, conn := newTestManager(t, Config{})
		var tok string
		request(t, m, mustSignIn(t, m, g), func(w http.ResponseWriter, r *http.Request) {
			if _, err := m.SignIn(w, r, g); err != nil {
				t.Fatal(err)
			}
			tok = tokenOf(t, w)
		})
		if n, _ := redis.Int(conn.Do("ZCARD", IndexKey("s:", 1))); n != 1 {
			t.Errorf("index holds %d entries after signing in again, want 1", n)
		}
		signOut(t, m, tok)
		noKeys(t, conn)
	})
	t.Run("revoke and revoke-others", func(t *testing.T) {
		m, conn := newTestManager(t, Config{})
		a, b, c := mustSignIn(t, m, g), mustSignIn(t, m, g), mustSignIn(t, m, g)
		request(t, m, a, func(w http.ResponseWriter, r *http.Request) {
			if _, err := m.Revoke(r.Context(), 1, tokenID(b)); err != nil {
				t.Fatal(err)
			}
			if n, err := m.RevokeOthers(r.Context(), 1); err != nil || n != 1 {
				t.Fatalf("RevokeOthers = %d, %v; want 1 (c)", n, err)
			}
			if _, err := m.Revoke(r.Context(), 1, tokenID(a)); err != nil {
				t.Fatal(err)
			}
		})
		noKeys(t, conn)
		for _, tok := range []string{a, b, c} {
			if _, why, _ := current(t, m, tok); why != EndRevoked {
				t.Errorf("a revoked session reports %q, want %q", why, EndRevoked)
			}
		}
	})
	t.Run("password change", func(t *testing.T) {
		m, conn := newTestManager(t, Config{})
		a, b := mustSignIn(t, m, g), mustSignIn(t, m, g)
		if n, err := m.RevokeAll(t.Context(), 1, 1, EndPasswordChanged); err != nil || n != 2 {
			t.Fatalf("RevokeAll = %d, %v", n, err)
		}
		keys := userKeys(t, conn)
		if len(keys) != 1 || keys[0] != "s:{"+userTag(1)+"}e:1" {
			t.Errorf("keys after a password change: %q, want only the epoch", keys)
		}
		for _, tok := range []string{a, b} {
			if _, why, _ := current(t, m, tok); why != EndPasswordChanged {
				t.Errorf("a session ended by a password change reports %q", why)
			}
		}
	})
	t.Run("the cap", func(t *testing.T) {
		m, conn := newTestManager(t, Config{MaxSessions: 1})
		first := mustSignIn(t, m, g)
		second := mustSignIn(t, m, g)
		if _, why, err := current(t, m, first); err == nil || why != EndRevoked {
			t.Errorf("the session beyond the cap: %v, %q; want signed out, revoked", err, why)
		}
		signOut(t, m, second)
		noKeys(t, conn)
	})
	t.Run("idle expiry", func(t *testing.T) {
		m, conn := newTestManager(t, Config{Lifetime: time.Hour, IdleTimeout: time.Second, RefreshInterval: 100 * time.Millisecond})
		tok := mustSignIn(t, m, g)
		waitGone(t, conn, RecordKey("s:", tok))
		// The index expires at the very millisecond of its last record.
		noKeys(t, conn)
	})
	t.Run("absolute expiry", func(t *testing.T) {
		m, conn := newTestManager(t, Config{Lifetime: 1500 * time.Millisecond, IdleTimeout: time.Second, RefreshInterval: 50 * time.Millisecond})
		tok := mustSignIn(t, m, g)
		// Activity refreshes the record and the index until the lifetime
		// ends, past the first idle deadline: the index never expires before
		// a live session (which could then be neither listed nor revoked).
		// The index is looked at first: it cannot come back, so "index gone,
		// record still there" is never a race with the clock.
		for {
			if _, _, err := current(t, m, tok); err != nil {
				break
			}
			idx, _ := redis.Int(conn.Do("EXISTS", IndexKey("s:", 1)))
			rec, _ := redis.Int(conn.Do("EXISTS", RecordKey("s:", tok)))
			if idx == 0 && rec == 1 {
				t.Fatal("the index expired before its live session")
			}
			time.Sleep(60 * time.Millisecond)
		}
		waitGone(t, conn, RecordKey("s:", tok))
		noKeys(t, conn)
	})
}

func mustSignIn(t *testing.T, m *Manager, g Grant) string {
	t.Helper()
	tok, err := signIn(t, m, g)
	if err != nil || tok == "" {
		t.Fatalf("sign in: %q, %v", tok, err)
	}
	return tok
}

func tokenOf(t *testing.T, w http.ResponseWriter) string {
	t.Helper()
	for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
		if c.Name == CookieName && c.Value != "" {
			return c.Value
		}
	}
	t.Fatal("no session cookie set")
	return ""
}

// Why a presented token no longer works is told to the device holding it,
// and nothing to a request without one.
func TestEndReason(t *testing.T) {
	m, _ := newTestManager(t, Config{})
	if _, why, err := current(t, m, ""); why != EndNone || err == nil {
		t.Errorf("no cookie: %q, %v", why, err)
	}
	tok := mustSignIn(t, m, Grant{UserID: 5, Name: "bob"})
	if info, why, err := current(t, m, tok); err != nil || why != EndNone || info.ID != tokenID(tok) || info.UserID != 5 {
		t.Errorf("live session: %+v %q %v", info, why, err)
	}
	made := strings.Repeat("A", tokenLen)
	if _, why, _ := current(t, m, made); why != EndExpired {
		t.Errorf("a made-up token reports %q, want %q", why, EndExpired)
	}
	signOut(t, m, tok)
	if _, why, _ := current(t, m, tok); why != EndExpired {
		t.Errorf("after its own sign-out the token reports %q, want %q (nothing to tell)", why, EndExpired)
	}
}

// BenchmarkSignIn measures a whole sign-in (token draws for the user's tag,
// the create script) against a real Redis.
func BenchmarkSignIn(b *testing.B) {
	r := testenv.StartRedis(b)
	m, err := NewManager(redispool.Single(r.Pool(b)), Config{Lifetime: time.Hour, IdleTimeout: time.Minute, KeyPrefix: "b:"}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/login", nil)
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.SignIn(w, r, Grant{UserID: 1, Name: "alice"}); err != nil {
			b.Fatal(err)
		}
	}))
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// BenchmarkDrawToken measures the token draws alone.
func BenchmarkDrawToken(b *testing.B) {
	r := testenv.StartRedis(b)
	m, err := NewManager(redispool.Single(r.Pool(b)), Config{Lifetime: time.Hour, IdleTimeout: time.Minute, KeyPrefix: "b:"}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, err := m.scs.Load(b.Context(), "")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := m.newToken(ctx, userTag(1)); err != nil {
			b.Fatal(err)
		}
	}
}
