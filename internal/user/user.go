// Package user holds user accounts: the User type, user-name rules, and the
// Store that keeps accounts in the SQL database.
package user

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// User is an account. Its JSON form is safe to send to clients.
type User struct {
	ID int64 `json:"id"`
	// Name is the display form, as the user typed it (after PRECIS
	// enforcement, which maps e.g. fullwidth letters to their usual form).
	Name string `json:"name"`
	// PasswordHash is the encoded password hash. It never leaves the
	// server: it is excluded from JSON and must not be rendered anywhere.
	PasswordHash string `json:"-"`
	// Epoch counts password changes; sessions remember the epoch they were
	// created in, so a change can refuse every older one.
	Epoch int64 `json:"-"`
	// Email is the confirmed address ("" when none): the only one that
	// receives reset links and notices. EmailPending is an address waiting
	// for its confirmation link.
	Email        string    `json:"email,omitempty"`
	EmailPending string    `json:"email_pending,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Errors the Store returns for expected conditions. Any other error from the
// Store means the database failed and the request cannot be answered now.
var (
	// ErrNotFound means no user has the given name or ID.
	ErrNotFound = errors.New("user not found")
	// ErrDuplicateName means the name is taken, regardless of case.
	ErrDuplicateName = errors.New("user name already taken")
	// ErrInvalidName means a name breaks the naming rules. It is always
	// wrapped as "invalid user name: REASON", where REASON is plain English
	// fit to show the user and never repeats the input.
	ErrInvalidName = errors.New("invalid user name")
)

// Length limits for a user name, counted in characters (runes) of the
// display form.
const (
	MinNameLen = 3
	MaxNameLen = 32
)

// NormalizeName validates a user name and returns its display form and its
// uniqueness key. Surrounding spaces are trimmed; the display form is the
// PRECIS UsernameCasePreserved form and the key the UsernameCaseMapped form
// (RFC 8265), so "Alice", "ALICE" and fullwidth "Ａｌｉｃｅ" share one key.
// Every rejection wraps ErrInvalidName.
func NormalizeName(name string) (display, key string, err error) {
	// Checked before anything else so that later steps, and the messages
	// below, only ever see well-formed text.
	if !utf8.ValidString(name) {
		return "", "", fmt.Errorf("%w: contains characters that are not allowed", ErrInvalidName)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", "", fmt.Errorf("%w: must not be empty", ErrInvalidName)
	}
	// PRECIS would reject inner spaces too, but with a vaguer message.
	if strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		return "", "", fmt.Errorf("%w: must not contain spaces", ErrInvalidName)
	}
	display, err = precis.UsernameCasePreserved.String(name)
	if err != nil {
		return "", "", fmt.Errorf("%w: contains characters that are not allowed", ErrInvalidName)
	}
	if n := utf8.RuneCountInString(display); n < MinNameLen || n > MaxNameLen {
		return "", "", fmt.Errorf("%w: must be %d to %d characters", ErrInvalidName, MinNameLen, MaxNameLen)
	}
	key, err = precis.UsernameCaseMapped.String(display)
	if err != nil {
		return "", "", fmt.Errorf("%w: contains characters that are not allowed", ErrInvalidName)
	}
	return display, key, nil
}
