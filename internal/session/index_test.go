package session

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/testenv"
)

// signIn runs Manager.SignIn inside Middleware, as a handler would, and
// returns the new token.
func signIn(t *testing.T, m *Manager, g Grant) (string, error) {
	t.Helper()
	var err error
	rec := httptest.NewRecorder()
	m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err = m.SignIn(w, r, g)
	})).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
	for _, c := range rec.Result().Cookies() {
		if c.Name == CookieName {
			return c.Value, err
		}
	}
	return "", err
}

func newTestManager(t *testing.T, cfg Config) (*Manager, redis.Conn) {
	t.Helper()
	r := testenv.StartRedis(t)
	if cfg.Lifetime == 0 {
		cfg.Lifetime, cfg.IdleTimeout = time.Hour, 10*time.Minute
	}
	cfg.KeyPrefix = "s:"
	m, err := NewManager(r.Pool(t), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return m, r.Conn(t)
}

// A sign-in that checked the old password but had not yet created its
// session when the password changed must not create it (the credential
// epoch), and RevokeAll ends every existing one.
func TestStaleEpochRefused(t *testing.T) {
	m, conn := newTestManager(t, Config{})
	tok, err := signIn(t, m, Grant{UserID: 7, Name: "alice", Epoch: 0})
	if err != nil || tok == "" {
		t.Fatalf("first sign-in: %q, %v", tok, err)
	}
	n, err := m.RevokeAll(t.Context(), 7, 1) // password changed: epoch 1
	if err != nil || n != 1 {
		t.Fatalf("RevokeAll = %d, %v; want 1", n, err)
	}
	if _, err := signIn(t, m, Grant{UserID: 7, Name: "alice", Epoch: 0}); !errors.Is(err, ErrCredentialsChanged) {
		t.Fatalf("sign-in with the old epoch: %v, want ErrCredentialsChanged", err)
	}
	if keys, _ := redis.Strings(conn.Do("KEYS", "s:*")); len(keys) != 1 || keys[0] != "s:epoch:7" {
		t.Errorf("keys after the refused sign-in: %q, want only the epoch", keys)
	}
	if ttl, _ := redis.Int64(conn.Do("PTTL", "s:epoch:7")); ttl <= 0 {
		t.Errorf("epoch key TTL %d: it must expire", ttl)
	}
	// The new epoch signs in; other users are unaffected by 7's epoch.
	if _, err := signIn(t, m, Grant{UserID: 7, Name: "alice", Epoch: 1}); err != nil {
		t.Errorf("sign-in with the new epoch: %v", err)
	}
	if _, err := signIn(t, m, Grant{UserID: 8, Name: "bob", Epoch: 0}); err != nil {
		t.Errorf("another user's sign-in: %v", err)
	}
	// A lower epoch never lowers the stored one.
	if _, err := m.RevokeAll(t.Context(), 7, 0); err != nil {
		t.Fatal(err)
	}
	if e, _ := redis.Int(conn.Do("GET", "s:epoch:7")); e != 1 {
		t.Errorf("stored epoch = %d, want 1", e)
	}
}

func TestPublicIDAndAgentSummary(t *testing.T) {
	a, b := publicID(hashToken("token-a")), publicID(hashToken("token-b"))
	if a == b || len(a) != 12 {
		t.Errorf("public ids %q %q", a, b)
	}
	for ua, want := range map[string]string{
		"":           "unknown client",
		"curl/8.5.0": "curl",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36 Edg/130.0": "Edge on Windows",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15":    "Safari on macOS",
		"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36":              "Chrome on Android",
		"something\x00weird": "other client",
	} {
		if got := summarizeAgent(ua); got != want {
			t.Errorf("summarizeAgent(%q) = %q, want %q", ua, got, want)
		}
	}
}
