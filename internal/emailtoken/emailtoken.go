// Package emailtoken issues and spends the tokens of e-mailed links:
// password reset and address confirmation.
//
// A token is 256 bits from crypto/rand, sent once, in the link, and never
// stored: the database keeps its SHA-256, so a dump of the table yields no
// usable link. Each token has one purpose, one user, the address it was
// sent to, an expiry, and the user's credential epoch at issue, and is
// deleted when it is used, so it works once. A user has at most one live
// token per purpose: issuing another replaces it.
package emailtoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Purpose says what a token may be used for; a token of one purpose is
// never accepted for another.
type Purpose string

// The purposes of tokens.
const (
	Reset  Purpose = "reset"
	Verify Purpose = "verify"
)

// ErrInvalid is the one answer for a token that is malformed, unknown,
// already used, expired or of another purpose: the links' pages say the
// same for all of them.
var ErrInvalid = errors.New("emailtoken: invalid or expired token")

// tokenBytes is the token's entropy: 256 bits, twice the 128 that R1 asks.
const tokenBytes = 32

// encodedLen is the length of a token in a link (unpadded base64url).
var encodedLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// Token is what a stored token says.
type Token struct {
	Purpose Purpose
	UserID  int64
	// Address is where the link was sent (for Verify: the address it
	// confirms).
	Address string
	// Epoch is the user's credential epoch when the token was issued.
	Epoch   int64
	Expires time.Time
}

// Store keeps token hashes in the SQL database migrated by package
// database; its SQL runs unchanged on SQLite and PostgreSQL.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// NewStore returns a Store over db. now is the clock that issues and
// expires tokens; nil means time.Now.
func NewStore(db *sql.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// Issue creates a token for t (its Expires is ignored: the token lives for
// ttl from now) and returns it for the link. It replaces the user's earlier
// token of the same purpose and removes expired tokens of everyone.
func (s *Store) Issue(ctx context.Context, t Token, ttl time.Duration) (string, error) {
	if t.Purpose != Reset && t.Purpose != Verify {
		return "", fmt.Errorf("emailtoken: unknown purpose %q", t.Purpose)
	}
	if ttl <= 0 || t.UserID == 0 || t.Address == "" {
		return "", errors.New("emailtoken: issue: needs a user, an address and a positive lifetime")
	}
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("emailtoken: random: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("emailtoken: issue: %w", err)
	}
	defer tx.Rollback()
	const drop = `DELETE FROM email_tokens WHERE (user_id = $1 AND purpose = $2) OR expires_at <= $3`
	if _, err := tx.ExecContext(ctx, drop, t.UserID, string(t.Purpose), now.UnixMilli()); err != nil {
		return "", fmt.Errorf("emailtoken: issue: %w", err)
	}
	const insert = `
		INSERT INTO email_tokens (token_hash, purpose, user_id, address, epoch, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`
	if _, err := tx.ExecContext(ctx, insert, hash(token), string(t.Purpose), t.UserID, t.Address, t.Epoch,
		now.Add(ttl).UnixMilli()); err != nil {
		return "", fmt.Errorf("emailtoken: issue: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("emailtoken: issue: %w", err)
	}
	return token, nil
}

// Peek returns what a live token of purpose p says, without using it up:
// for the page a link opens, before the user confirms. It fails with
// ErrInvalid; any other error means the database failed.
func (s *Store) Peek(ctx context.Context, p Purpose, token string) (Token, error) {
	if !wellFormed(token) {
		return Token{}, ErrInvalid
	}
	const q = `
		SELECT user_id, address, epoch, expires_at FROM email_tokens
		WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3`
	return s.scan(s.db.QueryRowContext(ctx, q, hash(token), string(p), s.now().UnixMilli()), p)
}

// Consume uses a live token of purpose p up and returns what it said. Of
// two requests racing with one token, exactly one gets it: the row is
// deleted by the same statement that reads it.
func (s *Store) Consume(ctx context.Context, p Purpose, token string) (Token, error) {
	if !wellFormed(token) {
		return Token{}, ErrInvalid
	}
	const q = `
		DELETE FROM email_tokens
		WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3
		RETURNING user_id, address, epoch, expires_at`
	return s.scan(s.db.QueryRowContext(ctx, q, hash(token), string(p), s.now().UnixMilli()), p)
}

func (s *Store) scan(row *sql.Row, p Purpose) (Token, error) {
	t := Token{Purpose: p}
	var expires int64
	err := row.Scan(&t.UserID, &t.Address, &t.Epoch, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrInvalid
	}
	if err != nil {
		return Token{}, fmt.Errorf("emailtoken: %w", err)
	}
	t.Expires = time.UnixMilli(expires)
	return t, nil
}

// wellFormed reports whether s could be a token at all, so that junk never
// reaches the database.
func wellFormed(s string) bool {
	if len(s) != encodedLen {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == tokenBytes
}

// hash is what the database keeps of a token.
func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
