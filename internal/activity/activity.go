// Package activity keeps the security events of each account that its owner
// can see: sign-ins, failed attempts, sign-outs, revocations and password
// changes, with when and from where. Retention is bounded by age and by a
// count per user, pruned as new events are written.
package activity

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind names an event.
type Kind string

// The kinds of event recorded.
const (
	SignIn          Kind = "sign_in"
	SignInFailed    Kind = "sign_in_failed"
	SignOut         Kind = "sign_out"
	Revoked         Kind = "session_revoked"
	PasswordChanged Kind = "password_changed"
	// PasswordChangeFailed: a signed-in session gave a wrong current password.
	PasswordChangeFailed Kind = "password_change_failed"
	// PasswordReset: the password was set through an e-mailed link.
	PasswordReset Kind = "password_reset"
	// EmailChangeRequested: a new address waits for its confirmation link.
	EmailChangeRequested Kind = "email_change_requested"
	// EmailChangeFailed: a wrong current password on the address page.
	EmailChangeFailed Kind = "email_change_failed"
	// EmailConfirmed: an address was confirmed and is now the account's.
	EmailConfirmed Kind = "email_confirmed"
	// EmailRemoved: the account's address was removed.
	EmailRemoved Kind = "email_removed"
)

// Label is the kind in words, for people.
func (k Kind) Label() string {
	switch k {
	case SignIn:
		return "Signed in"
	case SignInFailed:
		return "Failed sign-in attempt"
	case SignOut:
		return "Signed out"
	case Revoked:
		return "Session ended"
	case PasswordChanged:
		return "Password changed (other sessions signed out)"
	case PasswordChangeFailed:
		return "Failed password change (wrong current password)"
	case PasswordReset:
		return "Password reset by e-mail"
	case EmailChangeRequested:
		return "New e-mail address waiting for confirmation"
	case EmailChangeFailed:
		return "Failed e-mail change (wrong current password)"
	case EmailConfirmed:
		return "E-mail address confirmed"
	case EmailRemoved:
		return "E-mail address removed"
	}
	return string(k)
}

// Event is one entry of a user's activity.
type Event struct {
	UserID     int64
	At         time.Time
	Kind       Kind
	ClientAddr string
	UserAgent  string
}

// Limits on what a stored event keeps, so a hostile client cannot make rows
// large.
const (
	maxClientLen = 64
	maxAgentLen  = 512
)

// Store keeps events in the SQL database migrated by package database. Its
// SQL runs unchanged on SQLite and PostgreSQL.
type Store struct {
	db *sql.DB
	// Retention is how long events are kept; PerUser how many per user.
	retention time.Duration
	perUser   int
}

// NewStore returns a Store keeping each user's newest perUser events for at
// most retention.
func NewStore(db *sql.DB, retention time.Duration, perUser int) *Store {
	return &Store{db: db, retention: retention, perUser: perUser}
}

// Record stores an event and prunes the user's events beyond the retention
// limits, in one transaction.
func (s *Store) Record(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("activity: record: %w", err)
	}
	defer tx.Rollback()
	const insert = `
		INSERT INTO activity (user_id, at, kind, client, user_agent)
		VALUES ($1, $2, $3, $4, $5)`
	if _, err := tx.ExecContext(ctx, insert, e.UserID, e.At.UnixMilli(), string(e.Kind),
		clean(e.ClientAddr, maxClientLen), clean(e.UserAgent, maxAgentLen)); err != nil {
		return fmt.Errorf("activity: record: %w", err)
	}
	const prune = `
		DELETE FROM activity
		WHERE user_id = $1 AND (at < $2 OR id NOT IN (
			SELECT id FROM activity WHERE user_id = $1 ORDER BY id DESC LIMIT $3))`
	if _, err := tx.ExecContext(ctx, prune, e.UserID, time.Now().Add(-s.retention).UnixMilli(), s.perUser); err != nil {
		return fmt.Errorf("activity: prune: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("activity: record: %w", err)
	}
	return nil
}

// List returns the user's events, newest first, at most limit of them.
func (s *Store) List(ctx context.Context, userID int64, limit int) ([]Event, error) {
	const q = `
		SELECT at, kind, client, user_agent
		FROM activity
		WHERE user_id = $1 AND at >= $2
		ORDER BY id DESC
		LIMIT $3`
	rows, err := s.db.QueryContext(ctx, q, userID, time.Now().Add(-s.retention).UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("activity: list: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{UserID: userID}
		var at int64
		var kind string
		if err := rows.Scan(&at, &kind, &e.ClientAddr, &e.UserAgent); err != nil {
			return nil, fmt.Errorf("activity: list: %w", err)
		}
		e.At, e.Kind = time.UnixMilli(at), Kind(kind)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("activity: list: %w", err)
	}
	return out, nil
}

// clean makes client-supplied text fit to store and show: valid UTF-8
// (PostgreSQL refuses anything else, which would lose the event), without
// control characters, at most n bytes, not split inside a character.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
