// Package group keeps named groups of users in the SQL database. Access
// rules name them as subjects ("group:admins"), and forward authentication
// passes a user's groups to the protected apps (Remote-Groups).
package group

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors the Store returns for expected conditions; any other error means
// the database failed.
var (
	// ErrNotFound: no group has that name.
	ErrNotFound = errors.New("no such group")
	// ErrDuplicate: a group of that name exists.
	ErrDuplicate = errors.New("group already exists")
	// ErrInvalidName: the name breaks the naming rules, always wrapped as
	// "invalid group name: REASON".
	ErrInvalidName = errors.New("invalid group name")
)

// MaxNameLen is the longest group name, in bytes (names are ASCII).
const MaxNameLen = 64

// NormalizeName returns the canonical form of a group name: lower-case
// ASCII letters, digits, '-', '_' and '.', starting with a letter or digit.
// The rule keeps names safe in a comma-separated header and in YAML.
func NormalizeName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch {
	case n == "":
		return "", fmt.Errorf("%w: must not be empty", ErrInvalidName)
	case len(n) > MaxNameLen:
		return "", fmt.Errorf("%w: must be at most %d characters", ErrInvalidName, MaxNameLen)
	case !isAlnum(n[0]):
		return "", fmt.Errorf("%w: must start with a letter or digit", ErrInvalidName)
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return "", fmt.Errorf("%w: may hold only letters a-z, digits, '-', '_' and '.'", ErrInvalidName)
		}
	}
	return n, nil
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// Group is one group and how many users are in it.
type Group struct {
	ID        int64
	Name      string
	Members   int
	CreatedAt time.Time
}

// Store keeps groups and memberships; its SQL runs unchanged on SQLite
// and PostgreSQL.
type Store struct {
	db *sql.DB
}

// NewStore returns a Store backed by db.
func NewStore(db *sql.DB) *Store { return &Store{db: db} }

// Create adds a group. It fails with ErrInvalidName or ErrDuplicate.
func (s *Store) Create(ctx context.Context, name string) (Group, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return Group{}, err
	}
	now := time.Now().Unix()
	var id int64
	err = s.db.QueryRowContext(ctx, `
		INSERT INTO groups (name, created_at) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING
		RETURNING id`, n, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Group{}, ErrDuplicate
	}
	if err != nil {
		return Group{}, fmt.Errorf("group: create: %w", err)
	}
	return Group{ID: id, Name: n, CreatedAt: time.Unix(now, 0).UTC()}, nil
}

// List returns every group with its member count, by name.
func (s *Store) List(ctx context.Context) ([]Group, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT g.id, g.name, g.created_at, COUNT(m.user_id)
		FROM groups g LEFT JOIN group_members m ON m.group_id = g.id
		GROUP BY g.id, g.name, g.created_at
		ORDER BY g.name`)
	if err != nil {
		return nil, fmt.Errorf("group: list: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var g Group
		var created int64
		if err := rows.Scan(&g.ID, &g.Name, &created, &g.Members); err != nil {
			return nil, fmt.Errorf("group: list: %w", err)
		}
		g.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("group: list: %w", err)
	}
	return out, nil
}

// Of returns the names of the user's groups, sorted; none is an empty
// slice, not an error.
func (s *Store) Of(ctx context.Context, userID int64) ([]string, error) {
	return of(ctx, s.db, userID)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func of(ctx context.Context, q querier, userID int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id
		WHERE m.user_id = $1
		ORDER BY g.name`, userID)
	if err != nil {
		return nil, fmt.Errorf("group: of user: %w", err)
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("group: of user: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("group: of user: %w", err)
	}
	return names, nil
}

// Change adds the user to the groups in add and removes them from those in
// remove, all or nothing, and returns the user's groups afterwards. A name
// that is not a group fails the whole change with an error wrapping
// ErrNotFound (or ErrInvalidName) that names it. Adding a membership the
// user has, or removing one they lack, is no error.
func (s *Store) Change(ctx context.Context, userID int64, add, remove []string) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("group: change: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	apply := func(names []string, stmt string) error {
		for _, name := range names {
			n, err := NormalizeName(name)
			if err != nil {
				return fmt.Errorf("%q: %w", name, err)
			}
			var id int64
			err = tx.QueryRowContext(ctx, `SELECT id FROM groups WHERE name = $1`, n).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%q: %w", n, ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("group: change: %w", err)
			}
			if _, err := tx.ExecContext(ctx, stmt, id, userID); err != nil {
				return fmt.Errorf("group: change: %w", err)
			}
		}
		return nil
	}
	if err := apply(add, `INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`); err != nil {
		return nil, err
	}
	if err := apply(remove, `DELETE FROM group_members WHERE group_id = $1 AND user_id = $2`); err != nil {
		return nil, err
	}
	names, err := of(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("group: change: %w", err)
	}
	return names, nil
}
