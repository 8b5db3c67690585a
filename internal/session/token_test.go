package session

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/testenv"
)

// fakeClock is the grace window's clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTokenManager(t *testing.T) (*Manager, redis.Conn, *fakeClock) {
	t.Helper()
	clock := &fakeClock{}
	clock.ns.Store(time.Now().UnixNano())
	m, conn := newTestManager(t, Config{Lifetime: time.Hour, IdleTimeout: 10 * time.Minute, Now: clock.now})
	return m, conn, clock
}

func startToken(t *testing.T, m *Manager, uid int64) TokenSession {
	t.Helper()
	ts, err := m.StartToken(t.Context(), TokenGrant{Grant: Grant{UserID: uid, Name: "alice"}, ClientID: "cli", UserAgent: "curl"})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// T1: Redis holds only hashes of refresh tokens; every key expires.
func TestRefreshTokensStoredHashed(t *testing.T) {
	t.Parallel()
	m, conn, _ := newTokenManager(t)
	ts := startToken(t, m, 1)
	next, err := m.Refresh(t.Context(), ts.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	_, secret1, _ := parseRefresh(ts.Refresh)
	_, secret2, _ := parseRefresh(next.Refresh)
	keys, _ := redis.Strings(conn.Do("KEYS", "s:*"))
	if len(keys) < 3 {
		t.Fatalf("keys %q: want record, index, family, grace", keys)
	}
	for _, k := range keys {
		dump, _ := redis.Bytes(conn.Do("DUMP", k))
		for _, s := range []string{secret1, secret2} {
			if strings.Contains(string(dump), s) || strings.Contains(k, s) {
				t.Errorf("key %s holds a refresh token in the clear", k)
			}
		}
		if ttl, _ := redis.Int64(conn.Do("PTTL", k)); ttl <= 0 {
			t.Errorf("%s has TTL %d: it must expire", k, ttl)
		}
	}
	if len(secret1) != 43 { // 256 bits, base64url
		t.Errorf("secret %q is not 256 bits", secret1)
	}
}

// T2: every refresh rotates; the old token, outside the grace window, ends
// the whole family, including the newest token.
func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	m, _, clock := newTokenManager(t)
	ts := startToken(t, m, 1)
	r1, err := m.Refresh(t.Context(), ts.Refresh)
	if err != nil || r1.Refresh == ts.Refresh || r1.ID != ts.ID || r1.UserID != 1 || r1.ClientID != "cli" {
		t.Fatalf("refresh = %+v, %v", r1, err)
	}
	r2, err := m.Refresh(t.Context(), r1.Refresh)
	if err != nil || r2.Refresh == r1.Refresh {
		t.Fatalf("second refresh = %+v, %v", r2, err)
	}
	clock.advance(11 * time.Second)
	if _, err := m.Refresh(t.Context(), r1.Refresh); !errors.Is(err, ErrTokenReused) {
		t.Fatalf("reuse outside the window: %v, want ErrTokenReused", err)
	}
	if _, err := m.Refresh(t.Context(), r2.Refresh); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("current token after the family ended: %v, want ErrInvalidGrant", err)
	}
	if _, err := m.Live(t.Context(), ts.ID, 1); !errors.Is(err, ErrSignedOut) {
		t.Errorf("session after reuse: %v, want ErrSignedOut", err)
	}
	list, err := m.List(t.Context(), 1)
	if err != nil || len(list) != 0 {
		t.Errorf("sessions after reuse: %+v, %v", list, err)
	}
	// The oldest token (two rotations back) is also a reuse.
	ts2 := startToken(t, m, 1)
	a, _ := m.Refresh(t.Context(), ts2.Refresh)
	clock.advance(time.Minute)
	if _, err := m.Refresh(t.Context(), a.Refresh); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Refresh(t.Context(), ts2.Refresh); !errors.Is(err, ErrTokenReused) {
		t.Errorf("token two rotations back: %v, want ErrTokenReused", err)
	}
}

// T3: refreshes racing with one token inside the grace window all succeed
// with the same new token: one live family.
func TestConcurrentRefreshInsideGrace(t *testing.T) {
	t.Parallel()
	m, _, _ := newTokenManager(t)
	ts := startToken(t, m, 1)
	const n = 8
	var wg sync.WaitGroup
	got := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r, err := m.Refresh(t.Context(), ts.Refresh)
			got[i], errs[i] = r.Refresh, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("refresh %d: %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("refresh %d got %q, refresh 0 %q: two branches", i, got[i], got[0])
		}
	}
	// The one family continues from the shared token.
	if _, err := m.Refresh(t.Context(), got[0]); err != nil {
		t.Errorf("refresh with the shared token: %v", err)
	}
	list, _ := m.List(t.Context(), 1)
	if len(list) != 1 {
		t.Errorf("%d sessions, want 1", len(list))
	}
}

// T4: a token session is listed, and ended by revoke, sign-out-everywhere
// and a password change; and StartToken refuses a stale epoch.
func TestTokenSessionIsASession(t *testing.T) {
	t.Parallel()
	m, _, _ := newTokenManager(t)
	for _, end := range []string{"revoke", "all", "password"} {
		ts := startToken(t, m, 3)
		list, err := m.List(t.Context(), 3)
		if err != nil || len(list) != 1 || list[0].Kind != KindAPI || list[0].ClientID != "cli" || list[0].ID != ts.ID {
			t.Fatalf("list = %+v, %v", list, err)
		}
		if info, err := m.Live(t.Context(), ts.ID, 3); err != nil || info.Kind != KindAPI {
			t.Fatalf("live = %+v, %v", info, err)
		}
		if _, err := m.Live(t.Context(), ts.ID, 4); !errors.Is(err, ErrSignedOut) {
			t.Errorf("another user's sid: %v", err)
		}
		switch end {
		case "revoke":
			_, err = m.Revoke(t.Context(), 3, ts.ID)
		case "all":
			_, err = m.RevokeAll(t.Context(), 3, 0, EndRevoked)
		case "password":
			_, err = m.RevokeAll(t.Context(), 3, 1, EndPasswordChanged)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Live(t.Context(), ts.ID, 3); !errors.Is(err, ErrSignedOut) {
			t.Errorf("%s: session still live", end)
		}
		if _, err := m.Refresh(t.Context(), ts.Refresh); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("%s: refresh = %v, want ErrInvalidGrant", end, err)
		}
	}
	if _, err := m.StartToken(t.Context(), TokenGrant{Grant: Grant{UserID: 3, Epoch: 0}}); !errors.Is(err, ErrCredentialsChanged) {
		t.Errorf("stale epoch: %v", err)
	}
}

// T4: the token clocks: the idle clock is the record's expiry, which a
// refresh pushes forward, capped by the absolute deadline.
func TestTokenSessionClocks(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	clock.ns.Store(time.Now().UnixNano())
	m, conn := newTestManager(t, Config{Lifetime: time.Hour, IdleTimeout: time.Minute,
		TokenIdleTimeout: time.Hour, TokenLifetime: 2 * time.Hour, Now: clock.now})
	ts := startToken(t, m, 1)
	rk := recordKey("s:", ts.ID)
	conn.Do("PEXPIRE", rk, 1000) // as if the idle hour had nearly passed
	if _, err := m.Refresh(t.Context(), ts.Refresh); err != nil {
		t.Fatal(err)
	}
	ttl, _ := redis.Int64(conn.Do("PTTL", rk))
	if ttl < 59*60*1000 || ttl > 60*60*1000 {
		t.Errorf("record TTL after refresh %d ms, want the idle hour", ttl)
	}
	conn.Do("PEXPIRE", rk, 1)
	for {
		if n, _ := redis.Int(conn.Do("EXISTS", rk)); n == 0 {
			break
		}
	}
	if _, err := m.Refresh(t.Context(), ts.Refresh); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("refresh after the idle clock ran out: %v", err)
	}
}

func TestRefreshTokenRevokeAndInspect(t *testing.T) {
	t.Parallel()
	m, _, _ := newTokenManager(t)
	ts := startToken(t, m, 1)
	if got, ok, err := m.Inspect(t.Context(), ts.Refresh); err != nil || !ok || got.UserID != 1 || got.ID != ts.ID {
		t.Fatalf("inspect = %+v %v %v", got, ok, err)
	}
	for _, bad := range []string{"", "x", ts.ID + ".short", ts.ID + "." + newSecret(), strings.Repeat("a", 5000)} {
		if _, ok, err := m.Inspect(t.Context(), bad); ok || err != nil {
			t.Errorf("inspect %q = %v, %v", bad, ok, err)
		}
		if uid, err := m.RevokeRefresh(t.Context(), bad); uid != 0 || err != nil {
			t.Errorf("revoke %q = %v, %v", bad, uid, err)
		}
		if _, err := m.Refresh(t.Context(), bad); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("refresh %q = %v", bad, err)
		}
	}
	if uid, err := m.RevokeRefresh(t.Context(), ts.Refresh); uid != 1 || err != nil {
		t.Fatalf("revoke = %v, %v", uid, err)
	}
	if _, ok, _ := m.Inspect(t.Context(), ts.Refresh); ok {
		t.Error("inspect after revoke: active")
	}
	if _, err := m.Live(t.Context(), ts.ID, 1); !errors.Is(err, ErrSignedOut) {
		t.Error("session live after revoke")
	}
}

func BenchmarkRefresh(b *testing.B) {
	r := testenv.StartRedis(b)
	m, err := NewManager(redispool.Single(r.Pool(b)), Config{Lifetime: time.Hour, IdleTimeout: time.Minute, KeyPrefix: "b:"}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ts, err := m.StartToken(b.Context(), TokenGrant{Grant: Grant{UserID: 1, Name: "a"}})
	if err != nil {
		b.Fatal(err)
	}
	tok := ts.Refresh
	b.ResetTimer()
	for b.Loop() {
		r, err := m.Refresh(b.Context(), tok)
		if err != nil {
			b.Fatal(err)
		}
		tok = r.Refresh
	}
}

// BenchmarkLive is the session check an access JWT costs besides its
// signature: one GET and a decode.
func BenchmarkLive(b *testing.B) {
	r := testenv.StartRedis(b)
	m, err := NewManager(redispool.Single(r.Pool(b)), Config{Lifetime: time.Hour, IdleTimeout: time.Minute, KeyPrefix: "b:"}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ts, err := m.StartToken(b.Context(), TokenGrant{Grant: Grant{UserID: 1, Name: "a"}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := m.Live(b.Context(), ts.ID, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// The per-user cap ends the oldest sessions, never the one just started,
// however many token sessions came before (authbench once saw the newest
// JWT refused after ~130 grants under a cap of 100).
func TestTokenSessionsUnderTheCap(t *testing.T) {
	t.Parallel()
	const limit = 10
	m, conn := newTestManager(t, Config{Lifetime: time.Hour, IdleTimeout: 10 * time.Minute, MaxSessions: limit})
	var all []TokenSession
	for range 3*limit + 5 {
		ts := startToken(t, m, 7)
		all = append(all, ts)
		if _, err := m.Live(t.Context(), ts.ID, 7); err != nil {
			t.Fatalf("session %d, just started: %v", len(all), err)
		}
	}
	for i, ts := range all {
		_, err := m.Live(t.Context(), ts.ID, 7)
		if live := err == nil; live != (i >= len(all)-limit) {
			t.Errorf("session %d of %d: live=%v (%v), want only the newest %d live", i+1, len(all), live, err, limit)
		}
	}
	// The sessions the cap ended took their refresh-token families along.
	families, err := redis.Strings(conn.Do("KEYS", "*}r:*"))
	if err != nil || len(families) != limit {
		t.Errorf("%d refresh-token families left for %d live sessions (%v)", len(families), limit, err)
	}
	if _, err := m.RevokeAll(t.Context(), 7, 0, EndRevoked); err != nil {
		t.Fatal(err)
	}
	if families, _ = redis.Strings(conn.Do("KEYS", "*}r:*")); len(families) != 0 {
		t.Errorf("%d refresh-token families left after revoking every session", len(families))
	}
}
