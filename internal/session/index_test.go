package session

import (
	"encoding/base64"
	"errors"
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
	m, err := NewManager(redispool.Single(r.Pool(t)), cfg, slog.New(slog.DiscardHandler))
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
	epochKey := "s:{" + userTag(7) + "}e:7"
	tok, err := signIn(t, m, Grant{UserID: 7, Name: "alice", Epoch: 0})
	if err != nil || tok == "" {
		t.Fatalf("first sign-in: %q, %v", tok, err)
	}
	n, err := m.RevokeAll(t.Context(), 7, 1, EndPasswordChanged) // password changed: epoch 1
	if err != nil || n != 1 {
		t.Fatalf("RevokeAll = %d, %v; want 1", n, err)
	}
	if _, err := signIn(t, m, Grant{UserID: 7, Name: "alice", Epoch: 0}); !errors.Is(err, ErrCredentialsChanged) {
		t.Fatalf("sign-in with the old epoch: %v, want ErrCredentialsChanged", err)
	}
	// Left: the epoch, and the tombstone that tells the first device why.
	keys, _ := redis.Strings(conn.Do("KEYS", "s:*"))
	if len(keys) != 2 || !slices.Contains(keys, epochKey) || !slices.Contains(keys, tombKey("s:", tokenID(tok))) {
		t.Errorf("keys after the refused sign-in: %q, want only the epoch and one tombstone", keys)
	}
	for _, k := range keys {
		if ttl, _ := redis.Int64(conn.Do("PTTL", k)); ttl <= 0 {
			t.Errorf("%s has TTL %d: it must expire", k, ttl)
		}
	}
	// The new epoch signs in; other users are unaffected by 7's epoch.
	if _, err := signIn(t, m, Grant{UserID: 7, Name: "alice", Epoch: 1}); err != nil {
		t.Errorf("sign-in with the new epoch: %v", err)
	}
	if _, err := signIn(t, m, Grant{UserID: 8, Name: "bob", Epoch: 0}); err != nil {
		t.Errorf("another user's sign-in: %v", err)
	}
	// A lower epoch never lowers the stored one.
	if _, err := m.RevokeAll(t.Context(), 7, 0, EndRevoked); err != nil {
		t.Fatal(err)
	}
	if e, _ := redis.Int(conn.Do("GET", epochKey)); e != 1 {
		t.Errorf("stored epoch = %d, want 1", e)
	}
}

// Every key of a user carries the user's hash tag, so that each script
// touches one Redis Cluster slot; the cookie carries only random bits.
func TestKeysOfOneUserShareATag(t *testing.T) {
	m, conn := newTestManager(t, Config{MaxSessions: 2})
	var tokens []string
	for range 3 {
		tok, err := signIn(t, m, Grant{UserID: 42, Name: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
		if raw, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(raw) != 32 {
			t.Fatalf("token %q is not 32 random bytes", tok)
		}
	}
	if _, err := m.RevokeAll(t.Context(), 42, 1, EndPasswordChanged); err != nil {
		t.Fatal(err)
	}
	if _, err := signIn(t, m, Grant{UserID: 42, Name: "alice", Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	keys, _ := redis.Strings(conn.Do("KEYS", "s:*"))
	if len(keys) < 4 {
		t.Fatalf("keys %q: want record, index, epoch and tombstones", keys)
	}
	want := "s:{" + userTag(42) + "}"
	for _, k := range keys {
		if !strings.HasPrefix(k, want) {
			t.Errorf("key %q lacks the user's tag %q", k, want)
		}
	}
	// Another user's tag differs for most ids (256 tags).
	if userTag(42) == userTag(43) && userTag(42) == userTag(44) {
		t.Errorf("users 42, 43, 44 share tag %q", userTag(42))
	}
}

func TestSessionIDs(t *testing.T) {
	a, b := tokenID("token-a"), tokenID("token-b")
	if a == b || len(a) != idLen || !validID(a) || !validID(b) {
		t.Errorf("ids %q %q", a, b)
	}
	for _, bad := range []string{"", a[:23], a + "x", "GG" + a[2:], "AB" + a[2:], a[:2] + "\r" + a[4:], a[:23] + "#"} {
		if validID(bad) {
			t.Errorf("validID(%q) = true", bad)
		}
	}
	if sessionID("not a hash") != "" {
		t.Error("sessionID accepted a non-hash")
	}
}
