package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// RecoveryCodes is how many recovery codes an account gets at a time.
const RecoveryCodes = 10

// recoveryBytes is each code's randomness: 80 bits, 16 base32 letters.
const recoveryBytes = 10

// NewRecoveryCodes replaces the account's recovery codes with RecoveryCodes
// new ones and returns them, to be shown once: only their keyed hashes are
// stored (M2).
func (s *Store) NewRecoveryCodes(ctx context.Context, userID int64) ([]string, error) {
	codes := make([]string, RecoveryCodes)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("mfa: recovery codes: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_recovery WHERE user_id = $1`, userID); err != nil {
		return nil, fmt.Errorf("mfa: recovery codes: %w", err)
	}
	for i := range codes {
		b := make([]byte, recoveryBytes)
		rand.Read(b) // never fails since Go 1.24
		c := strings.ToLower(base32.StdEncoding.EncodeToString(b))
		codes[i] = c[:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:]
		if _, err := tx.ExecContext(ctx, `INSERT INTO mfa_recovery (user_id, code_hash) VALUES ($1, $2)`, userID, s.recoveryHash(userID, codes[i])); err != nil {
			return nil, fmt.Errorf("mfa: recovery codes: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("mfa: recovery codes: %w", err)
	}
	return codes, nil
}

// UseRecoveryCode spends one of the account's recovery codes: it is
// compared in constant time with each stored hash, and deleted, so that it
// works once (the DELETE decides between racing requests).
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, code string) error {
	want := s.recoveryHash(userID, code)
	rows, err := s.db.QueryContext(ctx, `SELECT code_hash FROM mfa_recovery WHERE user_id = $1`, userID)
	if err != nil {
		return fmt.Errorf("mfa: read recovery codes: %w", err)
	}
	var hit string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return fmt.Errorf("mfa: read recovery codes: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(h), []byte(want)) == 1 {
			hit = h
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("mfa: read recovery codes: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("mfa: read recovery codes: %w", err)
	}
	if hit == "" {
		return ErrInvalidCode
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM mfa_recovery WHERE user_id = $1 AND code_hash = $2`, userID, hit)
	if err != nil {
		return fmt.Errorf("mfa: spend recovery code: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrInvalidCode // spent by a concurrent request
	}
	return nil
}

// RemoveRecoveryCodes deletes the account's recovery codes.
func (s *Store) RemoveRecoveryCodes(ctx context.Context, userID int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM mfa_recovery WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("mfa: remove recovery codes: %w", err)
	}
	return nil
}

// recoveryHash is the stored form of a code: HMAC-SHA256 under a key
// derived from the master key, so a copy of the database alone cannot even
// test guesses. Case, spaces and dashes do not matter.
func (s *Store) recoveryHash(userID int64, code string) string {
	norm := strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, code)
	m := hmac.New(sha256.New, s.recKey)
	fmt.Fprintf(m, "%d:%s", userID, norm)
	return hex.EncodeToString(m.Sum(nil))
}
