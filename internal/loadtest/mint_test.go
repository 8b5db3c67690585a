package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/testenv"
)

// current asks the session code, as the server would, who token belongs to.
func current(t *testing.T, m *session.Manager, token string) session.Info {
	t.Helper()
	var info session.Info
	var err error
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err = m.Current(r.Context())
	}))
	req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	req.AddCookie(&http.Cookie{Name: session.CookieName, Value: token})
	h.ServeHTTP(httptest.NewRecorder(), req)
	if err != nil {
		t.Fatalf("token %s: %v", token, err)
	}
	return info
}

func TestMintAndAgeSessions(t *testing.T) {
	r := testenv.StartRedis(t)
	pool := r.Pool(t)
	conn := r.Conn(t)
	ctx := context.Background()
	cfg := session.Config{Lifetime: 12 * time.Hour, IdleTimeout: 30 * time.Minute, RefreshInterval: time.Minute, KeyPrefix: "bench:"}
	m, err := newMinter(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n, users = 50, 10
	tokens, err := m.mintMany(ctx, n, users, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	// One record per session, one index per user.
	if size, _ := redis.Int(conn.Do("DBSIZE")); size != n+users {
		t.Fatalf("DBSIZE %d, want %d", size, n+users)
	}
	distinct := map[string]bool{}
	for i, tok := range tokens {
		distinct[tok] = true
		info := current(t, m.mgr, tok)
		id := mintedUserBase + int64(i%users)
		if info.UserID != id || info.Name != fmt.Sprintf("user%06d", id) {
			t.Fatalf("session %d belongs to %d %q, want %d", i, info.UserID, info.Name, id)
		}
	}
	if len(distinct) != n {
		t.Fatalf("%d distinct tokens of %d", len(distinct), n)
	}

	// Spread over twice the refresh interval, half the sessions are due:
	// one request each must read every session and write back only those.
	if err := ageSessions(ctx, pool, cfg.KeyPrefix, tokens, 2*cfg.RefreshInterval, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		current(t, m.mgr, tok)
	}
	text, err := redis.String(conn.Do("INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	calls, err := ParseCommandStats(text)
	if err != nil {
		t.Fatal(err)
	}
	if calls["get"] != n || calls["set"] != n/2 {
		t.Fatalf("after ageing: %d GET, %d SET; want %d and %d", calls["get"], calls["set"], n, n/2)
	}
	// Ageing kept each record's expiry.
	pttl, err := redis.Int64(conn.Do("PTTL", session.RecordKey(cfg.KeyPrefix, tokens[0])))
	if err != nil || pttl <= 0 {
		t.Fatalf("PTTL %d (%v): the expiry was lost", pttl, err)
	}
}

func TestAgeSessionsRefusesAnUnknownLayout(t *testing.T) {
	r := testenv.StartRedis(t)
	b, err := session.Codec{}.Encode(time.Now().Add(time.Hour), map[string]any{"uid": int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Conn(t).Do("SET", session.RecordKey("p:", "tok"), b, "EX", 3600); err != nil {
		t.Fatal(err)
	}
	err = ageSessions(context.Background(), r.Pool(t), "p:", []string{"tok"}, time.Minute, 1)
	if err == nil || !strings.Contains(err.Error(), "-age-sessions=false") {
		t.Fatalf("err %v, want one naming -age-sessions=false", err)
	}
}

func TestParallelStopsAtFirstError(t *testing.T) {
	var ran [100]bool
	err := parallel(context.Background(), 100, 1, func(ctx context.Context, i int) error {
		ran[i] = true
		if i == 3 {
			return fmt.Errorf("item %d failed", i)
		}
		return nil
	})
	if err == nil || err.Error() != "item 3 failed" || ran[4] {
		t.Fatalf("err %v, ran[4] %v", err, ran[4])
	}
}
