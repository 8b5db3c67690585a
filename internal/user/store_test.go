package user_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/user"
)

// eachBackend runs fn once per database (SQLite, and PostgreSQL when
// TEST_POSTGRES_URL is set), each time on a fresh, migrated database.
func eachBackend(t *testing.T, fn func(t *testing.T, s *user.Store, db *sql.DB)) {
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
			fn(t, user.NewStore(db), db)
		})
	}
}

func mustCreate(t *testing.T, s *user.Store, name string) user.User {
	t.Helper()
	u, err := s.Create(t.Context(), name, "hash-of-"+name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return u
}

func names(t *testing.T, s *user.Store) []string {
	t.Helper()
	users, err := s.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var out []string
	for _, u := range users {
		out = append(out, u.Name)
	}
	return out
}

func TestCreateAndFind(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *user.Store, _ *sql.DB) {
		before := time.Now().Truncate(time.Second)
		alice := mustCreate(t, s, "Alice")
		if alice.ID == 0 || alice.Name != "Alice" || alice.PasswordHash != "hash-of-Alice" {
			t.Fatalf("Create returned %+v", alice)
		}
		if alice.CreatedAt.Before(before) || alice.CreatedAt.After(time.Now()) {
			t.Errorf("CreatedAt = %v, want about now", alice.CreatedAt)
		}
		mustCreate(t, s, "Bob") // a second row, so a lookup cannot just return "the" row

		for _, name := range []string{"Alice", "alice", "ALICE", "  Alice\t", "Ａｌｉｃｅ"} {
			got, err := s.ByName(t.Context(), name)
			if err != nil {
				t.Errorf("ByName(%q): %v", name, err)
				continue
			}
			if got != alice {
				t.Errorf("ByName(%q) = %+v, want %+v", name, got, alice)
			}
		}
		got, err := s.ByID(t.Context(), alice.ID)
		if err != nil || got != alice {
			t.Errorf("ByID = %+v, %v; want %+v", got, err, alice)
		}
	})
}

func TestCreateDuplicate(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *user.Store, _ *sql.DB) {
		mustCreate(t, s, "Alice")
		mustCreate(t, s, "Иван")
		for _, name := range []string{"Alice", "alice", "ALICE", " aLiCe ", "Ａｌｉｃｅ", "иван", "ИВАН"} {
			if _, err := s.Create(t.Context(), name, "h"); !errors.Is(err, user.ErrDuplicateName) {
				t.Errorf("Create(%q) error = %v, want ErrDuplicateName", name, err)
			}
		}
		if got, want := names(t, s), []string{"Alice", "Иван"}; !slices.Equal(got, want) {
			t.Errorf("users = %q, want %q", got, want)
		}
	})
}

func TestNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *user.Store, _ *sql.DB) {
		alice := mustCreate(t, s, "Alice")
		ctx := t.Context()
		for _, name := range []string{"nobody", "Alicia", "", "a b", "\x00", "\xff\xfe"} {
			if _, err := s.ByName(ctx, name); !errors.Is(err, user.ErrNotFound) {
				t.Errorf("ByName(%q) error = %v, want ErrNotFound", name, err)
			}
		}
		if _, err := s.ByID(ctx, alice.ID+1000); !errors.Is(err, user.ErrNotFound) {
			t.Errorf("ByID(unknown) error = %v, want ErrNotFound", err)
		}
		if ok, err := s.RehashPassword(ctx, alice.ID+1000, "hash-of-Alice", "h"); ok || err != nil {
			t.Errorf("RehashPassword(unknown) = %v, %v; want false, nil", ok, err)
		}
	})
}

func TestRehashPassword(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *user.Store, _ *sql.DB) {
		ctx := t.Context()
		alice := mustCreate(t, s, "Alice")
		bob := mustCreate(t, s, "Bob")
		if ok, err := s.RehashPassword(ctx, alice.ID, alice.PasswordHash, "new-hash"); !ok || err != nil {
			t.Fatalf("RehashPassword = %v, %v", ok, err)
		}
		got, err := s.ByID(ctx, alice.ID)
		if err != nil {
			t.Fatalf("ByID: %v", err)
		}
		if got.PasswordHash != "new-hash" || got.Epoch != 0 {
			t.Errorf("after rehash: hash %q epoch %d, want new-hash and 0", got.PasswordHash, got.Epoch)
		}
		if got.UpdatedAt.Before(alice.UpdatedAt) || !got.CreatedAt.Equal(alice.CreatedAt) {
			t.Errorf("times after update = %v/%v, before = %v/%v",
				got.CreatedAt, got.UpdatedAt, alice.CreatedAt, alice.UpdatedAt)
		}
		// Only the one row changed.
		if other, err := s.ByID(ctx, bob.ID); err != nil || other != bob {
			t.Errorf("other user = %+v, %v; want unchanged %+v", other, err, bob)
		}
		// A password change that landed meanwhile wins: the rehash of the
		// old password does not overwrite it.
		if _, err := s.ChangePassword(ctx, alice.ID, "changed"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.RehashPassword(ctx, alice.ID, "new-hash", "rehash-of-old-password"); ok || err != nil {
			t.Errorf("rehash after a password change = %v, %v; want false, nil", ok, err)
		}
		if got, _ := s.ByID(ctx, alice.ID); got.PasswordHash != "changed" {
			t.Errorf("hash = %q, want the changed password's", got.PasswordHash)
		}
		if _, err := s.RehashPassword(ctx, alice.ID, "changed", ""); err == nil {
			t.Error("RehashPassword with an empty hash succeeded")
		}
	})
}

func TestChangePasswordBumpsEpoch(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *user.Store, _ *sql.DB) {
		ctx := t.Context()
		alice := mustCreate(t, s, "Alice")
		bob := mustCreate(t, s, "Bob")
		if alice.Epoch != 0 {
			t.Fatalf("new user epoch = %d, want 0", alice.Epoch)
		}
		// A re-hash at another cost keeps the epoch: sessions stay valid.
		if ok, err := s.RehashPassword(ctx, alice.ID, alice.PasswordHash, "rehashed"); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if got, _ := s.ByID(ctx, alice.ID); got.Epoch != 0 {
			t.Errorf("epoch after re-hash = %d, want 0", got.Epoch)
		}
		for want := int64(1); want <= 2; want++ {
			epoch, err := s.ChangePassword(ctx, alice.ID, "changed")
			if err != nil || epoch != want {
				t.Fatalf("ChangePassword = %d, %v; want %d", epoch, err, want)
			}
		}
		got, err := s.ByName(ctx, "alice")
		if err != nil || got.Epoch != 2 || got.PasswordHash != "changed" {
			t.Errorf("after two changes: %+v, %v", got, err)
		}
		if other, _ := s.ByID(ctx, bob.ID); other.Epoch != 0 {
			t.Errorf("other user's epoch = %d, want 0", other.Epoch)
		}
		if _, err := s.ChangePassword(ctx, 999999, "x"); !errors.Is(err, user.ErrNotFound) {
			t.Errorf("ChangePassword of an unknown id = %v, want ErrNotFound", err)
		}
		if _, err := s.ChangePassword(ctx, alice.ID, ""); err == nil {
			t.Error("ChangePassword with an empty hash succeeded")
		}
	})
}

func TestList(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *user.Store, _ *sql.DB) {
		if got := names(t, s); len(got) != 0 {
			t.Fatalf("empty database lists %q", got)
		}
		// Creation order, deliberately not alphabetical.
		want := []string{"carol", "Alice", "bob"}
		for _, n := range want {
			mustCreate(t, s, n)
		}
		users, err := s.List(t.Context())
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if got := names(t, s); !slices.Equal(got, want) {
			t.Errorf("List names = %q, want %q", got, want)
		}
		if !slices.IsSortedFunc(users, func(a, b user.User) int { return int(a.ID - b.ID) }) {
			t.Errorf("List not ordered by id: %+v", users)
		}
	})
}

// TestSQLLookingNames checks that names full of SQL syntax are either
// refused by validation or stored and found literally, and never change any
// other row.
func TestSQLLookingNames(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *user.Store, _ *sql.DB) {
		ctx := t.Context()
		mustCreate(t, s, "Alice")
		want := []string{"Alice"}
		for _, name := range []string{
			"o'brien;--",
			`robert"--`,
			"x');DROP/**/TABLE/**/users;--",
			"x'); DROP TABLE users;--",
			"' OR '1'='1",
			"%_\\*",
			"$1$2",
		} {
			_, err := s.Create(ctx, name, "h")
			switch {
			case errors.Is(err, user.ErrInvalidName):
				continue
			case err != nil:
				t.Fatalf("Create(%q): %v", name, err)
			}
			want = append(want, name)
			got, err := s.ByName(ctx, name)
			if err != nil || got.Name != name {
				t.Errorf("ByName(%q) = %q, %v; want the literal name", name, got.Name, err)
			}
		}
		if len(want) == 1 {
			t.Fatal("every name was refused; the test proves nothing about storage")
		}
		if got := names(t, s); !slices.Equal(got, want) {
			t.Errorf("users = %q, want exactly %q", got, want)
		}
		// A LIKE-style pattern must not match other rows.
		if _, err := s.ByName(ctx, "%_%"); !errors.Is(err, user.ErrNotFound) {
			t.Errorf("ByName(%%_%%) error = %v, want ErrNotFound", err)
		}
	})
}

// TestCreateConcurrent races several sign-ups for one name (in different
// letter cases): the database, not a check-then-insert, must pick one winner.
func TestCreateConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *user.Store, _ *sql.DB) {
		const n = 8
		var (
			wg         sync.WaitGroup
			mu         sync.Mutex
			ok, dup    int
			unexpected []error
		)
		start := make(chan struct{})
		for i := range n {
			name := "Racer"
			if i%2 == 1 {
				name = strings.ToUpper(name)
			}
			wg.Go(func() {
				<-start
				_, err := s.Create(t.Context(), name, "h")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, user.ErrDuplicateName):
					dup++
				default:
					unexpected = append(unexpected, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if ok != 1 || dup != n-1 || len(unexpected) != 0 {
			t.Errorf("%d created, %d duplicates, other errors %v; want 1, %d, none", ok, dup, unexpected, n-1)
		}
		if got := names(t, s); len(got) != 1 {
			t.Errorf("users = %q, want one", got)
		}
	})
}

// TestClosedDatabase checks that a database failure is reported as such and
// never as a sentinel: the server must answer 503, not "invalid credentials"
// or "name taken".
func TestClosedDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *user.Store, db *sql.DB) {
		alice := mustCreate(t, s, "Alice")
		db.Close()
		ctx := t.Context()
		_, errCreate := s.Create(ctx, "Bob", "h")
		_, errByName := s.ByName(ctx, "Alice")
		_, errByID := s.ByID(ctx, alice.ID)
		_, errSet := s.RehashPassword(ctx, alice.ID, "hash-of-Alice", "h")
		_, errList := s.List(ctx)
		for name, err := range map[string]error{
			"Create": errCreate, "ByName": errByName, "ByID": errByID,
			"RehashPassword": errSet, "List": errList,
		} {
			if err == nil || errors.Is(err, user.ErrNotFound) || errors.Is(err, user.ErrDuplicateName) {
				t.Errorf("%s on a closed database: error = %v, want a non-sentinel error", name, err)
			}
		}
	})
}

func TestUserJSON(t *testing.T) {
	u := user.User{
		ID: 7, Name: "Alice", PasswordHash: "$argon2id$secret",
		CreatedAt: time.Unix(1700000000, 0).UTC(), UpdatedAt: time.Unix(1700000001, 0).UTC(),
	}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":7,"name":"Alice","created_at":"2023-11-14T22:13:20Z","updated_at":"2023-11-14T22:13:21Z"}`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}

func TestNormalizeName(t *testing.T) {
	for _, tc := range []struct {
		in, display, key string
		reason           string // non-empty: want ErrInvalidName with this reason
	}{
		{in: "alice", display: "alice", key: "alice"},
		{in: "Alice", display: "Alice", key: "alice"},
		{in: "  Alice\t\n", display: "Alice", key: "alice"},
		{in: "Ａｌｉｃｅ", display: "Alice", key: "alice"}, // fullwidth
		{in: "Иван", display: "Иван", key: "иван"},
		{in: "ИВАН", display: "ИВАН", key: "иван"},
		// Digraphs such as Ǆ have compatibility decompositions, which the
		// PRECIS IdentifierClass refuses outright.
		{in: "Ǆemal", reason: "contains characters that are not allowed"},
		{in: "ΣΊΣΥΦΟΣ", display: "ΣΊΣΥΦΟΣ", key: "σίσυφοσ"},
		// RFC 8265 lower-cases rather than case-folds, so ß and SS differ.
		{in: "Straße", display: "Straße", key: "straße"},
		{in: "STRASSE", display: "STRASSE", key: "strasse"},
		{in: "日本語", display: "日本語", key: "日本語"},
		{in: "o'brien;--", display: "o'brien;--", key: "o'brien;--"},
		{in: strings.Repeat("x", 32), display: strings.Repeat("x", 32), key: strings.Repeat("x", 32)},
		{in: strings.Repeat("é", 32), display: strings.Repeat("é", 32), key: strings.Repeat("é", 32)},
		{in: "", reason: "must not be empty"},
		{in: " \t ", reason: "must not be empty"},
		{in: "xy", reason: "must be 3 to 32 characters"},
		{in: strings.Repeat("x", 33), reason: "must be 3 to 32 characters"},
		{in: "john smith", reason: "must not contain spaces"},
		{in: "john\u00a0smith", reason: "must not contain spaces"},
		{in: "john\tsmith", reason: "must not contain spaces"},
		{in: "john\x00smith", reason: "contains characters that are not allowed"},
		{in: "john\x1bsmith", reason: "contains characters that are not allowed"},
		{in: "john\u200bsmith", reason: "contains characters that are not allowed"},
		{in: "john\xffsmith", reason: "contains characters that are not allowed"},
		{in: "john😀smith", reason: "contains characters that are not allowed"},
	} {
		display, key, err := user.NormalizeName(tc.in)
		if tc.reason != "" {
			want := user.ErrInvalidName.Error() + ": " + tc.reason
			if !errors.Is(err, user.ErrInvalidName) || err.Error() != want {
				t.Errorf("NormalizeName(%q) error = %v, want %q", tc.in, err, want)
			}
			continue
		}
		if err != nil || display != tc.display || key != tc.key {
			t.Errorf("NormalizeName(%q) = %q, %q, %v; want %q, %q, nil",
				tc.in, display, key, err, tc.display, tc.key)
		}
	}
}
