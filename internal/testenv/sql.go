package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresEnv names the environment variable holding the URL of a PostgreSQL
// server the tests may create and drop databases on, for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "TEST_POSTGRES_URL"

// SQLiteURL returns a sqlite: URL for a new database file in a directory
// that is removed when the test ends.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "authd.db")
}

// PostgresURL creates an empty database on the server named by
// TEST_POSTGRES_URL, returns a URL for it, and drops it when the test ends.
// Each test gets its own database so tests can run in parallel and never see
// each other's rows. It skips the test when TEST_POSTGRES_URL is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skip(PostgresEnv + " not set")
	}
	u, err := url.Parse(base)
	if err != nil {
		// Not %v: the error would repeat the URL and any password in it.
		t.Fatalf("testenv: %s is not a valid URL", PostgresEnv)
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("testenv: %s is not a valid PostgreSQL URL", PostgresEnv)
	}

	// The name is not user input, but quote it anyway: identifiers cannot
	// be passed as query parameters.
	name := "authd_test_" + randomHex(8)
	ident := pgx.Identifier{name}.Sanitize()

	admin := stdlib.OpenDB(*cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+ident); err != nil {
		admin.Close()
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		// Cleanup runs after the test's own cleanups, but FORCE still
		// guards against connections a failed test left open.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}

// randomHex returns n random bytes, hex-encoded (lower case, so the
// database name needs no case-sensitive quoting by people inspecting it).
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}
