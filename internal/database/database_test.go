package database_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/testenv"
)

// backends lists the databases every dialect-neutral test runs against.
var backends = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite", testenv.SQLiteURL},
	{"postgres", testenv.PostgresURL},
}

func open(t *testing.T, url string) (*sql.DB, database.Dialect) {
	t.Helper()
	db, d, err := database.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, d
}

func TestMigrate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db, d := open(t, b.url(t))
			if string(d) != b.name {
				t.Fatalf("dialect = %q, want %q", d, b.name)
			}

			if v, err := database.Version(ctx, db, d); err != nil || v != 0 {
				t.Fatalf("Version before Migrate = %d, %v; want 0, nil", v, err)
			}
			applied, err := database.Migrate(ctx, db, d)
			if err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if !slices.Equal(applied, []int64{1, 2, 3}) {
				t.Errorf("Migrate applied %v, want [1 2 3]", applied)
			}
			applied, err = database.Migrate(ctx, db, d)
			if err != nil || len(applied) != 0 {
				t.Errorf("second Migrate = %v, %v; want nothing applied", applied, err)
			}
			if v, err := database.Version(ctx, db, d); err != nil || v != 3 {
				t.Errorf("Version = %d, %v; want 3, nil", v, err)
			}

			// The schema is really there, with the uniqueness the store needs.
			const ins = `INSERT INTO users (name, name_key, password_hash, created_at, updated_at)
				VALUES ('Alice', 'alice', 'h', 0, 0)`
			if _, err := db.ExecContext(ctx, ins); err != nil {
				t.Fatalf("insert: %v", err)
			}
			if _, err := db.ExecContext(ctx, ins); err == nil {
				t.Error("second insert with the same name_key succeeded")
			}
		})
	}
}

// TestMigrateConcurrent starts several "instances" at once on one database:
// the advisory lock must make exactly one of them apply the migration.
func TestMigrateConcurrent(t *testing.T) {
	url := testenv.PostgresURL(t)
	const n = 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []int64
	)
	for range n {
		db, d := open(t, url)
		wg.Go(func() {
			v, err := database.Migrate(t.Context(), db, d)
			if err != nil {
				t.Errorf("Migrate: %v", err)
			}
			mu.Lock()
			applied = append(applied, v...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if !slices.Equal(applied, []int64{1, 2, 3}) {
		t.Errorf("instances applied %v in total, want [1 2 3]", applied)
	}
}

func TestOpenSQLitePragmas(t *testing.T) {
	db, _ := open(t, testenv.SQLiteURL(t))
	ctx := t.Context()
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
}

// TestOpenSQLitePaths checks each accepted spelling of a SQLite URL lands
// on the intended file, creating missing parent directories.
func TestOpenSQLitePaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // relative paths resolve against the working directory
	for _, tc := range []struct{ url, file string }{
		{"sqlite:a.db", "a.db"},
		{"sqlite:sub/b.db", "sub/b.db"},
		{"sqlite://c.db", "c.db"},
		{"SQLite:d.db", "d.db"},
		{"sqlite://" + filepath.Join(dir, "new", "dir", "e.db"), "new/dir/e.db"},
		{"sqlite:" + filepath.Join(dir, "with space", "f.db"), "with space/f.db"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			db, d := open(t, tc.url)
			if d != database.SQLite {
				t.Errorf("dialect = %q, want sqlite", d)
			}
			if _, err := db.ExecContext(t.Context(), "CREATE TABLE t (x INTEGER)"); err != nil {
				t.Fatalf("create table: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, tc.file)); err != nil {
				t.Errorf("database file not where expected: %v", err)
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	for _, url := range []string{
		"",
		"authd.db",
		"mysql://root:s3cret@localhost/authd",
		"sqlite:",
		"sqlite://",
		"sqlite:authd.db?mode=ro",
		"sqlite::memory:",
		"sqlite:file:authd.db",
		"postgres://u:s3cret@[::1/db",           // malformed
		"postgres://u:s3cret@127.0.0.1:1/authd", // nothing listens on port 1
		"postgresql://u:s3cret@127.0.0.1:1/authd?connect_timeout=2",
	} {
		t.Run(url, func(t *testing.T) {
			db, _, err := database.Open(context.Background(), url)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}

func TestUnknownDialect(t *testing.T) {
	db, _ := open(t, testenv.SQLiteURL(t))
	if _, err := database.Migrate(t.Context(), db, "oracle"); err == nil {
		t.Error("Migrate with an unknown dialect succeeded")
	}
	if _, err := database.Version(t.Context(), db, "oracle"); err == nil {
		t.Error("Version with an unknown dialect succeeded")
	}
}
