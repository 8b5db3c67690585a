package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Errors of the address methods.
var (
	// ErrInvalidEmail means an address is not a plain addr-spec. It is
	// always wrapped as "invalid e-mail address: REASON", where REASON is
	// fit to show the user and never repeats the input.
	ErrInvalidEmail = errors.New("invalid e-mail address")
	// ErrDuplicateEmail means another account has confirmed the address.
	ErrDuplicateEmail = errors.New("e-mail address in use by another account")
	// ErrNotPending means the address is no longer the one waiting for
	// confirmation (the user asked for another since, or removed it).
	ErrNotPending = errors.New("e-mail address not pending confirmation")
)

// MaxEmailLen is the longest address accepted, in bytes (RFC 5321's limit
// on a forward path, less its angle brackets).
const MaxEmailLen = 254

// NormalizeEmail validates an address and returns its display form (as
// typed, trimmed, in Unicode NFC) and its uniqueness key (lower case), so
// that "Alice@Example.com" and "alice@example.COM" are one address. Only a
// bare addr-spec is accepted: no display name, comment or route.
func NormalizeEmail(s string) (display, key string, err error) {
	if !utf8.ValidString(s) {
		return "", "", fmt.Errorf("%w: contains characters that are not allowed", ErrInvalidEmail)
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	switch {
	case s == "":
		return "", "", fmt.Errorf("%w: must not be empty", ErrInvalidEmail)
	case len(s) > MaxEmailLen:
		return "", "", fmt.Errorf("%w: must be at most %d bytes", ErrInvalidEmail, MaxEmailLen)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "", "", fmt.Errorf("%w: must not contain spaces", ErrInvalidEmail)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", "", fmt.Errorf("%w: must look like name@example.com", ErrInvalidEmail)
	}
	at := strings.LastIndexByte(s, '@')
	if domain := s[at+1:]; !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") {
		return "", "", fmt.Errorf("%w: must look like name@example.com", ErrInvalidEmail)
	}
	return s, strings.ToLower(s), nil
}

// ByLogin returns the user whose name is login, or whose confirmed address
// is login, in any letter case: what "forgot password" accepts. It runs one
// query whether or not anyone matches. When one account's name is another
// account's address, the address wins: nobody can divert a reset meant for
// an address's owner by taking that address as a user name.
func (s *Store) ByLogin(ctx context.Context, login string) (User, error) {
	nameKey := ""
	if _, k, err := NormalizeName(login); err == nil {
		nameKey = k
	}
	emailKey := ""
	if _, k, err := NormalizeEmail(login); err == nil {
		emailKey = k
	}
	const q = `
		SELECT ` + userColumns + `
		FROM users
		WHERE name_key = $1 OR email_key = $2
		ORDER BY CASE WHEN email_key = $2 THEN 0 ELSE 1 END
		LIMIT 1`
	u, err := scanUser(s.db.QueryRowContext(ctx, q, nameKey, emailKey))
	if err != nil {
		return User{}, fmt.Errorf("user: find by login: %w", err)
	}
	return u, nil
}

// EmailOwner returns the id of the account that has confirmed address, or
// ErrNotFound.
func (s *Store) EmailOwner(ctx context.Context, address string) (int64, error) {
	_, key, err := NormalizeEmail(address)
	if err != nil {
		return 0, ErrNotFound
	}
	var id int64
	err = s.db.QueryRowContext(ctx, `SELECT id FROM users WHERE email_key = $1`, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("user: find e-mail owner: %w", err)
	}
	return id, nil
}

// SetPendingEmail records address as waiting for confirmation, replacing
// any earlier pending one; the confirmed address is unchanged. It does not
// say whether another account uses the address: that would tell anyone
// who owns which address. An unknown ID yields ErrNotFound.
func (s *Store) SetPendingEmail(ctx context.Context, id int64, address string) error {
	display, _, err := NormalizeEmail(address)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET email_pending = $1, updated_at = $2 WHERE id = $3`,
		display, time.Now().Unix(), id)
	return oneRow(res, err, "set pending e-mail")
}

// ConfirmEmail makes address, which must still be the pending one, the
// account's confirmed address, and returns the address it replaces ("" if
// none). It fails with ErrNotPending, or ErrDuplicateEmail if another
// account has confirmed the address. One UPDATE decides, so two accounts
// confirming one address at once cannot both win (the unique index would
// refuse the second anyway).
func (s *Store) ConfirmEmail(ctx context.Context, id int64, address string) (old string, err error) {
	display, key, err := NormalizeEmail(address)
	if err != nil {
		return "", ErrNotPending
	}
	var prev sql.NullString
	err = s.db.QueryRowContext(ctx, `SELECT email FROM users WHERE id = $1`, id).Scan(&prev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("user: confirm e-mail: %w", err)
	}
	const q = `
		UPDATE users
		SET email = $1, email_key = $2, email_pending = NULL, updated_at = $3
		WHERE id = $4 AND email_pending = $1
		  AND NOT EXISTS (SELECT 1 FROM users other WHERE other.email_key = $2 AND other.id <> $4)`
	res, err := s.db.ExecContext(ctx, q, display, key, time.Now().Unix(), id)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err == nil && n == 1 {
		return prev.String, nil
	}
	// Nothing changed, or the unique index refused a race: say why.
	if owner, oerr := s.EmailOwner(ctx, display); oerr == nil && owner != id {
		return "", ErrDuplicateEmail
	}
	if err != nil {
		return "", fmt.Errorf("user: confirm e-mail: %w", err)
	}
	return "", ErrNotPending
}

// RemoveEmail clears the account's confirmed and pending addresses and
// returns the confirmed one it removed ("" if none).
func (s *Store) RemoveEmail(ctx context.Context, id int64) (old string, err error) {
	var prev sql.NullString
	err = s.db.QueryRowContext(ctx, `SELECT email FROM users WHERE id = $1`, id).Scan(&prev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("user: remove e-mail: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `
		UPDATE users SET email = NULL, email_key = NULL, email_pending = NULL, updated_at = $1
		WHERE id = $2`, time.Now().Unix(), id)
	if err := oneRow(res, err, "remove e-mail"); err != nil {
		return "", err
	}
	return prev.String, nil
}

// oneRow checks that an UPDATE by id changed its row.
func oneRow(res sql.Result, err error, op string) error {
	if err != nil {
		return fmt.Errorf("user: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("user: %s: %w", op, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
