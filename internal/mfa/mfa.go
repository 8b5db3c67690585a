// Package mfa keeps the second factors of accounts in the SQL database:
// TOTP secrets (RFC 6238) sealed at rest, single-use recovery codes stored
// as keyed hashes, and passkeys (WebAuthn credentials, passkey.go).
package mfa

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sessionauth/authd/internal/secret"
)

// Purposes of the sub-keys derived from the master key.
const (
	PurposeTOTP     = "mfa-totp/v1"
	PurposeRecovery = "mfa-recovery/v1"
)

// Errors of the factor checks.
var (
	// ErrInvalidCode: the code is wrong, already used, or there is no such factor.
	ErrInvalidCode = errors.New("mfa: invalid code")
	// ErrNotEnrolled: the account has no such factor (or none confirmed).
	ErrNotEnrolled = errors.New("mfa: factor not enrolled")
	// ErrEnrolled: the account has the factor already.
	ErrEnrolled = errors.New("mfa: factor already enrolled")
)

// Store reads and changes the accounts' second factors.
type Store struct {
	db     *sql.DB
	seal   cipher.AEAD
	recKey []byte
	issuer string
	now    func() time.Time
}

// NewStore returns a Store over db whose keys derive from keys. issuer
// names the service in authenticator apps; now is the clock (nil: time.Now).
func NewStore(db *sql.DB, keys *secret.Keys, issuer string, now func() time.Time) *Store {
	block, err := aes.NewCipher(keys.Derive(PurposeTOTP))
	if err != nil {
		panic("mfa: " + err.Error()) // a 32-byte key never fails
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("mfa: " + err.Error())
	}
	if now == nil {
		now = time.Now
	}
	if issuer == "" {
		issuer = "authd"
	}
	return &Store{db: db, seal: aead, recKey: keys.Derive(PurposeRecovery), issuer: issuer, now: now}
}

// Factors says which second factors an account has.
type Factors struct {
	TOTP         bool // a confirmed TOTP secret
	RecoveryLeft int  // unused recovery codes
	Passkeys     int
}

// Any reports whether the account needs a second step at sign-in. Recovery
// codes alone do not count: they back up another factor.
func (f Factors) Any() bool { return f.TOTP || f.Passkeys > 0 }

// Methods lists the second-step methods the account can use, as the JSON
// answer of the password step names them.
func (f Factors) Methods() []string {
	var m []string
	if f.TOTP {
		m = append(m, "totp")
	}
	if f.Passkeys > 0 {
		m = append(m, "passkey")
	}
	if f.RecoveryLeft > 0 && f.Any() {
		m = append(m, "recovery_code")
	}
	return m
}

// Factors returns the account's factors.
func (s *Store) Factors(ctx context.Context, userID int64) (Factors, error) {
	var f Factors
	var totp int
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM mfa_totp WHERE user_id = $1 AND confirmed = 1),
		(SELECT COUNT(*) FROM mfa_recovery WHERE user_id = $1),
		(SELECT COUNT(*) FROM passkeys WHERE user_id = $1)`, userID).Scan(&totp, &f.RecoveryLeft, &f.Passkeys)
	if err != nil {
		return Factors{}, fmt.Errorf("mfa: read factors: %w", err)
	}
	f.TOTP = totp > 0
	return f, nil
}

// Reset removes every factor of the account (the operator's `authd user
// mfa reset`), returning it to password-only sign-in.
func (s *Store) Reset(ctx context.Context, userID int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mfa: reset: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DELETE FROM mfa_totp WHERE user_id = $1`,
		`DELETE FROM mfa_recovery WHERE user_id = $1`,
		`DELETE FROM passkeys WHERE user_id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, userID); err != nil {
			return fmt.Errorf("mfa: reset: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mfa: reset: %w", err)
	}
	return nil
}

// sealSecret encrypts a TOTP secret for the account's row: the user id is
// the associated data, so a sealed secret copied to another row is refused.
func (s *Store) sealSecret(userID int64, plain string) string {
	nonce := make([]byte, s.seal.NonceSize())
	rand.Read(nonce) // never fails since Go 1.24
	out := s.seal.Seal(nonce, nonce, []byte(plain), aad(userID))
	return base64.RawStdEncoding.EncodeToString(out)
}

func (s *Store) openSecret(userID int64, sealed string) (string, error) {
	b, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.seal.NonceSize() {
		return "", errors.New("mfa: sealed secret is malformed")
	}
	n := s.seal.NonceSize()
	plain, err := s.seal.Open(nil, b[:n], b[n:], aad(userID))
	if err != nil {
		return "", fmt.Errorf("mfa: open secret (another master key?): %w", err)
	}
	return string(plain), nil
}

func aad(userID int64) []byte { return []byte("totp:" + strconv.FormatInt(userID, 10)) }
