package mfa

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238's defaults, which every authenticator app reads.
const (
	Period = 30 // seconds per time step
	Digits = otp.DigitsSix
	// Skew is how many steps before and after the current one are accepted.
	Skew = 1
)

// BeginTOTP draws a new TOTP secret for the account, kept unconfirmed until
// ConfirmTOTP sees a first right code, and returns it (its URL is what the
// QR code shows). A secret already confirmed is ErrEnrolled; an
// unconfirmed one is replaced.
func (s *Store) BeginTOTP(ctx context.Context, userID int64, account string) (*otp.Key, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: account, Period: Period, Digits: Digits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("mfa: generate TOTP secret: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO mfa_totp (user_id, secret, confirmed, last_step, created_at) VALUES ($1, $2, 0, 0, $3)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at WHERE mfa_totp.confirmed = 0`,
		userID, s.sealSecret(userID, key.Secret()), s.now().Unix())
	if err != nil {
		return nil, fmt.Errorf("mfa: store TOTP secret: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return nil, ErrEnrolled
	}
	return key, nil
}

// PendingTOTP returns the unconfirmed secret BeginTOTP stored, to show it
// again; ErrNotEnrolled when there is none.
func (s *Store) PendingTOTP(ctx context.Context, userID int64, account string) (*otp.Key, error) {
	sec, _, err := s.secret(ctx, userID, 0)
	if err != nil {
		return nil, err
	}
	return otp.NewKeyFromURL(keyURL(s.issuer, account, sec))
}

// keyURL is the otpauth:// URL of a stored secret, as totp.Generate writes it.
func keyURL(issuer, account, sec string) string {
	v := url.Values{}
	v.Set("secret", sec)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}

// ConfirmTOTP activates the unconfirmed secret when code is right for it.
func (s *Store) ConfirmTOTP(ctx context.Context, userID int64, code string) error {
	sec, _, err := s.secret(ctx, userID, 0)
	if errors.Is(err, ErrNotEnrolled) {
		return ErrInvalidCode
	}
	if err != nil {
		return err
	}
	step, ok := match(sec, code, s.now())
	if !ok {
		return ErrInvalidCode
	}
	res, err := s.db.ExecContext(ctx, `UPDATE mfa_totp SET confirmed = 1, last_step = $1 WHERE user_id = $2 AND confirmed = 0`, step, userID)
	if err != nil {
		return fmt.Errorf("mfa: confirm TOTP: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrInvalidCode // confirmed meanwhile by another request
	}
	return nil
}

// VerifyTOTP accepts code for the account's confirmed secret at most once:
// it must be right for the current time step or one next to it, and for a
// step later than the last accepted one. The check of the step and its
// recording are one UPDATE, so two requests racing with one code cannot
// both win (M1).
func (s *Store) VerifyTOTP(ctx context.Context, userID int64, code string) error {
	sec, last, err := s.secret(ctx, userID, 1)
	if errors.Is(err, ErrNotEnrolled) {
		return ErrInvalidCode
	}
	if err != nil {
		return err
	}
	step, ok := match(sec, code, s.now())
	if !ok || step <= last {
		return ErrInvalidCode
	}
	res, err := s.db.ExecContext(ctx, `UPDATE mfa_totp SET last_step = $1 WHERE user_id = $2 AND confirmed = 1 AND last_step < $1`, step, userID)
	if err != nil {
		return fmt.Errorf("mfa: record TOTP step: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrInvalidCode // replayed by a concurrent request
	}
	return nil
}

// RemoveTOTP deletes the account's TOTP secret, confirmed or not.
func (s *Store) RemoveTOTP(ctx context.Context, userID int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM mfa_totp WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("mfa: remove TOTP: %w", err)
	}
	return nil
}

// secret returns the account's TOTP secret in the given state (0
// unconfirmed, 1 confirmed) and the last step used.
func (s *Store) secret(ctx context.Context, userID int64, confirmed int) (string, int64, error) {
	var sealed string
	var last int64
	err := s.db.QueryRowContext(ctx, `SELECT secret, last_step FROM mfa_totp WHERE user_id = $1 AND confirmed = $2`, userID, confirmed).Scan(&sealed, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, ErrNotEnrolled
	}
	if err != nil {
		return "", 0, fmt.Errorf("mfa: read TOTP secret: %w", err)
	}
	sec, err := s.openSecret(userID, sealed)
	return sec, last, err
}

// match returns the time step within ±Skew of now for which code is right.
// Every candidate is computed and compared in constant time.
func match(sec, code string, now time.Time) (int64, bool) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(code) != Digits.Length() {
		return 0, false
	}
	cur := now.Unix() / Period
	var found int64
	ok := false
	for off := int64(-Skew); off <= Skew; off++ {
		step := cur + off
		want, err := totp.GenerateCodeCustom(sec, time.Unix(step*Period, 0), totp.ValidateOpts{Period: Period, Digits: Digits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, true
		}
	}
	return found, ok
}
