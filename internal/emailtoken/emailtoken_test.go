package emailtoken

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/user"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func setup(t *testing.T, url string) (*Store, *sql.DB, *clock, int64, int64) {
	t.Helper()
	ctx := context.Background()
	db, dialect, err := database.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := database.Migrate(ctx, db, dialect); err != nil {
		t.Fatal(err)
	}
	users := user.NewStore(db)
	a, err := users.Create(ctx, "alice", "hash")
	if err != nil {
		t.Fatal(err)
	}
	b, err := users.Create(ctx, "bob", "hash")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Now()}
	return NewStore(db, c.Now), db, c, a.ID, b.ID
}

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", testenv.SQLiteURL}, {"postgres", testenv.PostgresURL}} {
		t.Run(tc.name, func(t *testing.T) { testTokens(t, tc.url(t)) })
	}
}

func testTokens(t *testing.T, url string) {
	s, db, clk, alice, bob := setup(t, url)
	ctx := context.Background()
	issue := func(p Purpose, uid int64, ttl time.Duration) string {
		t.Helper()
		tok, err := s.Issue(ctx, Token{Purpose: p, UserID: uid, Address: "x@example.com", Epoch: 3}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	// At least 128 bits of randomness, URL-safe; only the hash is stored.
	tok := issue(Reset, alice, 30*time.Minute)
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 16 {
		t.Fatalf("token %q decodes to %d bytes (%v), want >= 16", tok, len(raw), err)
	}
	rows, err := db.Query(`SELECT token_hash, purpose, address FROM email_tokens`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h, p, a string
		rows.Scan(&h, &p, &a)
		if strings.Contains(h, tok) || h == tok || len(h) != 64 {
			t.Fatalf("stored %q for token %q: not a SHA-256", h, tok)
		}
	}
	rows.Close()

	got, err := s.Peek(ctx, Reset, tok)
	if err != nil || got.UserID != alice || got.Epoch != 3 || got.Address != "x@example.com" {
		t.Fatalf("Peek = %+v, %v", got, err)
	}
	// Peeking does not use it up; another purpose never accepts it.
	if _, err := s.Peek(ctx, Verify, tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reset token as verify token: %v", err)
	}
	if _, err := s.Consume(ctx, Verify, tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reset token consumed as verify token: %v", err)
	}
	if got, err := s.Consume(ctx, Reset, tok); err != nil || got.UserID != alice {
		t.Fatalf("Consume = %+v, %v", got, err)
	}
	// Single use.
	if _, err := s.Consume(ctx, Reset, tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("second use: %v, want ErrInvalid", err)
	}
	if _, err := s.Peek(ctx, Reset, tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("peek after use: %v, want ErrInvalid", err)
	}

	// Expiry, by the injected clock.
	tok = issue(Reset, alice, 30*time.Minute)
	clk.Add(29 * time.Minute)
	if _, err := s.Peek(ctx, Reset, tok); err != nil {
		t.Fatalf("after 29 minutes: %v", err)
	}
	clk.Add(time.Minute)
	if _, err := s.Consume(ctx, Reset, tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("after 30 minutes: %v, want ErrInvalid", err)
	}

	// A new token replaces the user's earlier one of the same purpose, and
	// only that one.
	first := issue(Reset, alice, time.Hour)
	verify := issue(Verify, alice, time.Hour)
	bobs := issue(Reset, bob, time.Hour)
	second := issue(Reset, alice, time.Hour)
	if _, err := s.Peek(ctx, Reset, first); !errors.Is(err, ErrInvalid) {
		t.Fatalf("replaced token: %v, want ErrInvalid", err)
	}
	for _, live := range []struct {
		p   Purpose
		tok string
	}{{Reset, second}, {Verify, verify}, {Reset, bobs}} {
		if _, err := s.Peek(ctx, live.p, live.tok); err != nil {
			t.Fatalf("token that should live: %v", err)
		}
	}

	// Racing uses: exactly one wins.
	tok = issue(Reset, bob, time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Consume(ctx, Reset, tok); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ErrInvalid) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d racing uses succeeded, want 1", wins)
	}

	// Junk never matches (and never reaches the database as a query).
	for _, junk := range []string{"", "x", strings.Repeat("A", 43) + "=", "'; DROP TABLE email_tokens; --", strings.Repeat("é", 22)} {
		if _, err := s.Consume(ctx, Reset, junk); !errors.Is(err, ErrInvalid) {
			t.Fatalf("junk %q: %v", junk, err)
		}
	}
}
