// Package pwnlist refuses new passwords that attackers try first: those on
// a list of common passwords shipped in the binary and, when configured,
// those the Have I Been Pwned range API has seen in breaches (NIST SP
// 800-63B 3.1.1.2). It is for new passwords only: sign-in never asks it, so
// an existing account can always sign in.
//
// The shipped list is the "passwords" frequency list of zxcvbn 4.4.2
// (Dropbox, MIT licence) as packaged by github.com/trustelem/zxcvbn (MIT
// licence): the 30,000 most common passwords of a corpus of 10 million
// leaked ones. Only its entries long enough to pass password.Validate are
// kept (11,611).
package pwnlist

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/frequency"

	"github.com/sessionauth/authd/internal/password"
)

// Errors of Check. Their text is shown to users as is.
var (
	ErrCommon   = errors.New("this password is one of the most common passwords; please choose another")
	ErrPersonal = errors.New("the password must not be your user name or e-mail address")
	ErrBreached = errors.New("this password has appeared in a data breach; please choose another")
)

// Checker holds the shipped list and, optionally, a client of the range API.
type Checker struct {
	common map[string]struct{}
	pwned  *rangeClient // nil: the range API is off
}

// Options configure a Checker.
type Options struct {
	// RangeURL, when set, is the HIBP Pwned Passwords range endpoint, such
	// as "https://api.pwnedpasswords.com/range/"; the five-character hash
	// prefix is appended. Empty turns the range check off.
	RangeURL string
	// Client makes the range requests; nil means a client with a 2 s
	// timeout. Whatever it does, a failure never refuses a password.
	Client *http.Client
	// Log receives a line when the range API cannot be used.
	Log *slog.Logger
}

// New returns a Checker with the shipped list, and the range API if
// o.RangeURL is set.
func New(o Options) *Checker {
	list := frequency.FrequencyLists["passwords"]
	c := &Checker{common: make(map[string]struct{}, len(list)/2)}
	for _, pw := range list {
		if utf8.RuneCountInString(pw) >= password.MinLength {
			c.common[pw] = struct{}{}
		}
	}
	if o.RangeURL != "" {
		c.pwned = newRangeClient(o)
	}
	return c
}

// Size is the number of passwords on the shipped list.
func (c *Checker) Size() int { return len(c.common) }

// Check returns nil if pw may be used as a new password, or one of the
// errors above. personal lists words that must not be the password (the
// user name, the address), compared regardless of case. The shipped list
// is compared regardless of case too: it is in lower case, and "Dragon123"
// is guessed as early as "dragon123".
func (c *Checker) Check(ctx context.Context, pw string, personal ...string) error {
	lower := strings.ToLower(pw)
	for _, p := range personal {
		if p != "" && strings.EqualFold(strings.TrimSpace(pw), p) {
			return ErrPersonal
		}
	}
	if _, ok := c.common[lower]; ok {
		return ErrCommon
	}
	if c.pwned != nil && c.pwned.breached(ctx, pw) {
		return ErrBreached
	}
	return nil
}
