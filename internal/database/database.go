// Package database opens the SQL database named by a URL (SQLite or
// PostgreSQL) and applies the embedded schema migrations to it.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/sessionauth/authd/migrations"
)

// Dialect names the SQL flavour of an open database.
type Dialect string

// The supported dialects; their values match the migration directories.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// acceptedForms is repeated in every URL error so the operator sees the fix.
const acceptedForms = "want sqlite:PATH, sqlite://PATH, postgres://… or postgresql://…"

// pingTimeout bounds the start-up ping: an unreachable host that drops
// packets would otherwise hang start-up until the caller's context ends.
const pingTimeout = 10 * time.Second

// Open connects to the database named by rawURL, checks that it answers, and
// reports its dialect. Accepted forms are sqlite:PATH and sqlite://PATH
// (relative, or absolute as in sqlite:///var/lib/authd/authd.db) and
// postgres:// or postgresql:// URLs. Errors never repeat the URL, since it
// may hold a password.
func Open(ctx context.Context, rawURL string) (*sql.DB, Dialect, error) {
	if rawURL == "" {
		return nil, "", fmt.Errorf("database: URL is empty; %s", acceptedForms)
	}
	scheme, _, ok := strings.Cut(rawURL, ":")
	if !ok {
		return nil, "", fmt.Errorf("database: URL has no scheme; %s", acceptedForms)
	}
	var (
		db      *sql.DB
		dialect Dialect
		err     error
	)
	switch strings.ToLower(scheme) {
	case "sqlite":
		db, err = openSQLite(rawURL[len(scheme)+1:])
		dialect = SQLite
	case "postgres", "postgresql":
		db, err = openPostgres(rawURL)
		dialect = Postgres
	default:
		// The scheme alone is safe to show: a password can only follow it.
		return nil, "", fmt.Errorf("database: unsupported URL scheme %q; %s", scheme, acceptedForms)
	}
	if err != nil {
		return nil, "", err
	}

	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("database: connect to %s: %w", dialect, err)
	}
	return db, dialect, nil
}

// openSQLite opens the file named by rest, which is what follows "sqlite:"
// in the URL: either PATH or //PATH.
func openSQLite(rest string) (*sql.DB, error) {
	path := strings.TrimPrefix(rest, "//")
	switch {
	case path == "":
		return nil, fmt.Errorf("database: sqlite URL has no file path; %s", acceptedForms)
	case strings.ContainsAny(path, "?#"):
		// The connection settings below are fixed; silently dropping or
		// merging user-supplied ones would be worse than refusing them.
		return nil, errors.New("database: sqlite URL must be a plain file path without ? or # parameters")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// Each pooled connection would get its own empty in-memory database.
		return nil, errors.New("database: sqlite URL must name a file on disk")
	}

	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database: sqlite path: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("database: create directory for sqlite file: %w", err)
	}

	// A file: URI escapes any odd characters in the path; the driver reads
	// the underscore parameters and SQLite ignores them. busy_timeout makes
	// concurrent writers wait instead of failing, WAL lets reads proceed
	// during a write, and _txlock=immediate takes the write lock at BEGIN so
	// a transaction never fails half-way when upgrading from read to write.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}).String()

	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("database: open sqlite: %w", err)
	}
	// SQLite connections are in-process and never go stale; a small pool is
	// enough because writes are serialised by the file lock anyway.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	return db, nil
}

// openPostgres opens a pool for a postgres:// or postgresql:// URL.
func openPostgres(rawURL string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx redacts passwords only on a best-effort basis for malformed
		// URLs, so its message (which quotes the URL) is not passed on.
		return nil, errors.New("database: cannot parse the postgres URL (details withheld because it may contain a password)")
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(5)
	// Recycling connections lets the pool follow fail-overs and DNS changes.
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// Migrate applies every pending migration, each in its own transaction, and
// returns the versions it applied (none when the schema was up to date). On
// PostgreSQL it holds an advisory lock meanwhile, so instances starting
// together migrate one after another instead of racing.
func Migrate(ctx context.Context, db *sql.DB, d Dialect) ([]int64, error) {
	var opts []goose.ProviderOption
	if d == Postgres {
		// Poll every second (goose's default is 5 s) for up to 5 minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("database: migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := newProvider(db, d, opts...)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("database: migrate: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// Version reports the schema version the database is at: the highest
// migration applied, or 0 for an empty database. It takes no lock, so it
// answers even while another instance is migrating.
func Version(ctx context.Context, db *sql.DB, d Dialect) (int64, error) {
	p, err := newProvider(db, d)
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("database: schema version: %w", err)
	}
	return v, nil
}

// newProvider builds a goose provider over the embedded migrations for d.
func newProvider(db *sql.DB, d Dialect, opts ...goose.ProviderOption) (*goose.Provider, error) {
	var gd goose.Dialect
	switch d {
	case SQLite:
		gd = goose.DialectSQLite3
	case Postgres:
		gd = goose.DialectPostgres
	default:
		return nil, fmt.Errorf("database: unknown dialect %q", d)
	}
	fsys, err := migrations.FS(string(d))
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	// Only the embedded SQL files count: goose's package-level registry of
	// Go migrations is global state this program never uses.
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("database: migrations: %w", err)
	}
	return p, nil
}
