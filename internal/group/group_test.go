package group_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/group"
	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/user"
)

// eachBackend runs fn on a fresh, migrated SQLite database, and on
// PostgreSQL when TEST_POSTGRES_URL is set: migration 00004 in both dialects.
func eachBackend(t *testing.T, fn func(t *testing.T, s *group.Store, users *user.Store, db *sql.DB)) {
	t.Helper()
	for _, b := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", testenv.SQLiteURL},
		{"postgres", testenv.PostgresURL},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db, d, err := database.Open(t.Context(), b.url(t))
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := database.Migrate(t.Context(), db, d); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			fn(t, group.NewStore(db), user.NewStore(db), db)
		})
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"admins": "admins", " Admins ": "admins", "ops-team_2.eu": "ops-team_2.eu", "9lives": "9lives",
	} {
		if got, err := group.NormalizeName(in); err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "  ", "-admins", ".x", "a,b", "a b", "admins;", "ädmins", "a\x00", string(make([]byte, 65))} {
		if got, err := group.NormalizeName(in); !errors.Is(err, group.ErrInvalidName) {
			t.Errorf("NormalizeName(%q) = %q, %v; want ErrInvalidName", in, got, err)
		}
	}
}

func TestStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *group.Store, users *user.Store, _ *sql.DB) {
		ctx := t.Context()
		alice, err := users.Create(ctx, "alice", "hash")
		if err != nil {
			t.Fatal(err)
		}
		bob, err := users.Create(ctx, "bob", "hash")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"Admins", "ops"} {
			if _, err := s.Create(ctx, n); err != nil {
				t.Fatalf("Create(%q): %v", n, err)
			}
		}
		if _, err := s.Create(ctx, "ADMINS"); !errors.Is(err, group.ErrDuplicate) {
			t.Fatalf("second Create(ADMINS): %v, want ErrDuplicate", err)
		}
		if _, err := s.Create(ctx, "bad name"); !errors.Is(err, group.ErrInvalidName) {
			t.Fatalf("Create(bad name): %v, want ErrInvalidName", err)
		}

		got, err := s.Of(ctx, alice.ID)
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Of(alice) before any change = %#v, %v; want an empty slice", got, err)
		}
		got, err = s.Change(ctx, alice.ID, []string{"ops", "admins", "ops"}, nil)
		if err != nil || !slices.Equal(got, []string{"admins", "ops"}) {
			t.Fatalf("Change(+ops +admins) = %v, %v", got, err)
		}
		if got, err = s.Change(ctx, alice.ID, nil, []string{"ops", "ops"}); err != nil || !slices.Equal(got, []string{"admins"}) {
			t.Fatalf("Change(-ops) = %v, %v", got, err)
		}
		// An unknown group fails the whole change: the +ops before it is undone.
		if _, err = s.Change(ctx, bob.ID, []string{"ops", "nosuch"}, nil); !errors.Is(err, group.ErrNotFound) {
			t.Fatalf("Change(+nosuch): %v, want ErrNotFound", err)
		}
		if got, err = s.Of(ctx, bob.ID); err != nil || len(got) != 0 {
			t.Fatalf("Of(bob) after a failed change = %v, %v; want none", got, err)
		}
		if _, err = s.Change(ctx, bob.ID, []string{"ops"}, nil); err != nil {
			t.Fatal(err)
		}

		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var summary []string
		for _, g := range list {
			summary = append(summary, g.Name+":"+string(rune('0'+g.Members)))
		}
		if !slices.Equal(summary, []string{"admins:1", "ops:1"}) {
			t.Fatalf("List = %v, want admins:1 ops:1", summary)
		}
	})
}

// A user's memberships go with the user (ON DELETE CASCADE), so a later
// account cannot inherit them.
func TestMembershipsCascade(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *group.Store, users *user.Store, db *sql.DB) {
		ctx := context.Background()
		u, err := users.Create(ctx, "carol", "hash")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, "admins"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Change(ctx, u.ID, []string{"admins"}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM group_members`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("memberships after deleting the user: %d, %v; want 0", n, err)
		}
	})
}
