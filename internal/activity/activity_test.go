package activity_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/user"
)

func eachBackend(t *testing.T, fn func(t *testing.T, db *sql.DB, users *user.Store)) {
	t.Helper()
	for name, url := range map[string]func(testing.TB) string{"sqlite": testenv.SQLiteURL, "postgres": testenv.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, d, err := database.Open(t.Context(), url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := database.Migrate(t.Context(), db, d); err != nil {
				t.Fatal(err)
			}
			fn(t, db, user.NewStore(db))
		})
	}
}

func TestRecordListAndRetention(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *sql.DB, users *user.Store) {
		ctx := t.Context()
		alice, _ := users.Create(ctx, "alice", "h")
		bob, _ := users.Create(ctx, "bob", "h")
		s := activity.NewStore(db, time.Hour, 5)

		// An event older than the retention is pruned and never listed.
		old := activity.Event{UserID: alice.ID, At: time.Now().Add(-2 * time.Hour), Kind: activity.SignIn, ClientAddr: "192.0.2.1", UserAgent: "curl"}
		if err := s.Record(ctx, old); err != nil {
			t.Fatal(err)
		}
		kinds := []activity.Kind{activity.SignIn, activity.SignInFailed, activity.SignOut,
			activity.Revoked, activity.PasswordChanged, activity.SignIn}
		for _, k := range kinds {
			if err := s.Record(ctx, activity.Event{UserID: alice.ID, Kind: k, ClientAddr: "192.0.2.7", UserAgent: "Firefox on Linux"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Record(ctx, activity.Event{UserID: bob.ID, Kind: activity.SignIn, ClientAddr: "198.51.100.1", UserAgent: strings.Repeat("é", 300)}); err != nil {
			t.Fatal(err)
		}
		// Bytes PostgreSQL would refuse, and control characters, from a
		// hostile User-Agent: the event is kept, the text cleaned.
		if err := s.Record(ctx, activity.Event{UserID: bob.ID, Kind: activity.SignInFailed, ClientAddr: "198.51.100.1", UserAgent: "evil\xff\xfe\x00\r\nagent"}); err != nil {
			t.Fatalf("recording a non-UTF-8 user agent: %v", err)
		}

		got, err := s.List(ctx, alice.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		// Five kept (perUser), newest first: the last five kinds reversed.
		if len(got) != 5 {
			t.Fatalf("listed %d events, want 5: %+v", len(got), got)
		}
		for i, e := range got {
			if want := kinds[len(kinds)-1-i]; e.Kind != want || e.ClientAddr != "192.0.2.7" || e.UserAgent != "Firefox on Linux" || e.UserID != alice.ID {
				t.Errorf("event %d = %+v, want kind %s", i, e, want)
			}
		}
		var rows int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM activity WHERE user_id = $1", alice.ID).Scan(&rows); err != nil || rows != 5 {
			t.Errorf("alice has %d rows (%v), want 5: pruning keeps the table bounded", rows, err)
		}
		if got, _ := s.List(ctx, alice.ID, 2); len(got) != 2 {
			t.Errorf("List limit 2 returned %d", len(got))
		}

		// Another user's events are separate, and long values are cut on a
		// character boundary.
		b, err := s.List(ctx, bob.ID, 10)
		if err != nil || len(b) != 2 {
			t.Fatalf("bob's events: %+v, %v", b, err)
		}
		if ua := b[0].UserAgent; ua != "evil\uFFFDagent" {
			t.Errorf("hostile user agent stored as %q", ua)
		}
		if ua := b[1].UserAgent; len(ua) != 512 || !strings.HasPrefix(ua, "é") || strings.ContainsRune(ua, '\uFFFD') {
			t.Errorf("stored user agent %q (%d bytes)", ua, len(ua))
		}
	})
}
