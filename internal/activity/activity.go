// Package activity keeps the security events of each account that its owner
// can see: sign-ins, failed attempts, sign-outs, revocations and password
// changes, with when and from where. Retention is bounded by age and by a
// count per user, pruned as new events are written. A run of failures (a
// stranger's flood of guesses, or of attempts refused during a lock) is
// collapsed into one row with a count, so that it cannot push the owner's
// older events out of that window. Writer records events off the request
// path.
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
	// SignInThrottled: a sign-in attempt refused unchecked because the
	// account (or the address, or the device) was locked after too many
	// failures.
	SignInThrottled Kind = "sign_in_throttled"
	// SignInTOTP, SignInRecovery and SignInPasskey are sign-ins that used
	// a second factor (after the password) or a passkey alone.
	SignInTOTP     Kind = "sign_in_totp"
	SignInRecovery Kind = "sign_in_recovery"
	SignInPasskey  Kind = "sign_in_passkey"
	// SecondFactorFailed: a wrong code after a right password.
	SecondFactorFailed Kind = "second_factor_failed"
	// TOTPAdded and TOTPRemoved: an authenticator app was set up or removed.
	TOTPAdded   Kind = "totp_added"
	TOTPRemoved Kind = "totp_removed"
	// RecoveryCodesCreated: a new set of recovery codes replaced the old.
	RecoveryCodesCreated Kind = "recovery_codes_created"
	// PasskeyAdded and PasskeyRemoved: a passkey was registered or removed.
	PasskeyAdded   Kind = "passkey_added"
	PasskeyRemoved Kind = "passkey_removed"
	// RefreshTokenReused: an API client's rotated refresh token was
	// presented again, so its session was ended (a stolen copy, or a
	// client that lost track of its tokens).
	RefreshTokenReused Kind = "refresh_token_reused"
)

// IsSignIn reports whether k is a successful sign-in, by any method.
func (k Kind) IsSignIn() bool {
	return k == SignIn || k == SignInTOTP || k == SignInRecovery || k == SignInPasskey
}

// collapses reports whether events of kind k merge into the user's newest
// row of the same kind when only such failures came after it.
func (k Kind) collapses() bool {
	return k == SignInFailed || k == SignInThrottled || k == SecondFactorFailed
}

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
	case SignInThrottled:
		return "Sign-in attempt refused during a lock (too many failures)"
	case SignInTOTP:
		return "Signed in with password and authenticator app"
	case SignInRecovery:
		return "Signed in with password and a recovery code"
	case SignInPasskey:
		return "Signed in with a passkey"
	case SecondFactorFailed:
		return "Wrong second-factor code after a right password"
	case TOTPAdded:
		return "Authenticator app added"
	case TOTPRemoved:
		return "Authenticator app removed"
	case RecoveryCodesCreated:
		return "New recovery codes created"
	case PasskeyAdded:
		return "Passkey added"
	case PasskeyRemoved:
		return "Passkey removed"
	case RefreshTokenReused:
		return "API client session ended: an old refresh token was used again"
	}
	return string(k)
}

// Event is one entry of a user's activity.
type Event struct {
	UserID int64
	// Account names the account when UserID is not known (0), as typed at
	// sign-in: Writer looks it up, off the request path, and drops the
	// event if there is no such account. Store ignores it.
	Account string
	// At is when the event happened; for collapsed events, the latest.
	At         time.Time
	Kind       Kind
	ClientAddr string // of the latest, for collapsed events
	UserAgent  string
	// Count is how many events this is (zero counts as one); First is when
	// the first of them happened, zero for a single event.
	Count int64
	First time.Time
}

// count is e.Count, at least one.
func (e Event) count() int64 { return max(e.Count, 1) }

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
// limits, in one transaction. A failure (see Kind) merges into the user's
// newest row of its kind when nothing but failures came after that row.
func (s *Store) Record(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("activity: record: %w", err)
	}
	defer tx.Rollback()
	merged := false
	if e.Kind.collapses() {
		if merged, err = merge(ctx, tx, e); err != nil {
			return fmt.Errorf("activity: record: %w", err)
		}
	}
	if !merged {
		var first int64
		if !e.First.IsZero() {
			first = e.First.UnixMilli()
		}
		const insert = `
			INSERT INTO activity (user_id, at, kind, client, user_agent, event_count, first_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`
		if _, err := tx.ExecContext(ctx, insert, e.UserID, e.At.UnixMilli(), string(e.Kind),
			clean(e.ClientAddr, maxClientLen), clean(e.UserAgent, maxAgentLen), e.count(), first); err != nil {
			return fmt.Errorf("activity: record: %w", err)
		}
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

// merge adds e to the user's newest row of e's kind, if only failures came
// after it (at most one other, since there are two kinds of failure): a run
// of failures takes one row per kind, however long it lasts. The row keeps
// its first time and takes e's time, address and client as the latest.
func merge(ctx context.Context, tx *sql.Tx, e Event) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, kind FROM activity WHERE user_id = $1 ORDER BY id DESC LIMIT 2`, e.UserID)
	if err != nil {
		return false, err
	}
	var target int64
	for rows.Next() {
		var (
			id   int64
			kind string
		)
		if err := rows.Scan(&id, &kind); err != nil {
			rows.Close()
			return false, err
		}
		if Kind(kind) == e.Kind {
			target = id
			break
		}
		if !Kind(kind).collapses() {
			break
		}
	}
	if err := rows.Close(); err != nil {
		return false, err
	}
	if err := rows.Err(); err != nil || target == 0 {
		return false, err
	}
	// SET expressions read the row's old values: first_at becomes the old
	// at when the row held a single event.
	const update = `
		UPDATE activity SET
			event_count = event_count + $1,
			first_at = CASE WHEN first_at = 0 THEN at ELSE first_at END,
			at = $2, client = $3, user_agent = $4
		WHERE id = $5`
	_, err = tx.ExecContext(ctx, update, e.count(), e.At.UnixMilli(),
		clean(e.ClientAddr, maxClientLen), clean(e.UserAgent, maxAgentLen), target)
	return err == nil, err
}

// List returns the user's events, newest first, at most limit of them.
func (s *Store) List(ctx context.Context, userID int64, limit int) ([]Event, error) {
	const q = `
		SELECT at, kind, client, user_agent, event_count, first_at
		FROM activity
		WHERE user_id = $1 AND at >= $2
		ORDER BY at DESC, id DESC
		LIMIT $3`
	rows, err := s.db.QueryContext(ctx, q, userID, time.Now().Add(-s.retention).UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("activity: list: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{UserID: userID}
		var at, first int64
		var kind string
		if err := rows.Scan(&at, &kind, &e.ClientAddr, &e.UserAgent, &e.Count, &first); err != nil {
			return nil, fmt.Errorf("activity: list: %w", err)
		}
		e.At, e.Kind = time.UnixMilli(at), Kind(kind)
		if first != 0 {
			e.First = time.UnixMilli(first)
		}
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
