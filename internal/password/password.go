// Package password checks, hashes and verifies user passwords with bcrypt.
//
// bcrypt reads only the first 72 bytes of a password and
// CompareHashAndPassword silently ignores the rest, so a longer password
// would match any password sharing its prefix. Such passwords are refused
// here, at sign-up and at sign-in alike.
package password

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

const (
	// MinLength is the fewest characters (not bytes) a new password may have.
	MinLength = 8
	// MaxBytes is the most bytes bcrypt reads; longer passwords are refused.
	MaxBytes = 72
	// MinCost is the lowest bcrypt cost this server accepts.
	MinCost = 10
	// DefaultCost is the bcrypt cost used when none is configured.
	DefaultCost = 12
)

// Errors returned by Validate. Their text is shown to users as is.
var (
	ErrTooShort = fmt.Errorf("password must be at least %d characters", MinLength)
	ErrTooLong  = fmt.Errorf("password must be at most %d bytes", MaxBytes)
	ErrInvalid  = errors.New("password must be valid text without control characters")
)

// ErrMismatch reports a password that does not match its hash.
var ErrMismatch = errors.New("password: mismatch")

// Validate reports whether pw is acceptable as a new password. Any printable
// Unicode, spaces included, is accepted and never altered.
func Validate(pw string) error {
	if !utf8.ValidString(pw) {
		return ErrInvalid
	}
	for _, r := range pw {
		if unicode.IsControl(r) {
			return ErrInvalid
		}
	}
	if len(pw) > MaxBytes {
		return ErrTooLong
	}
	if utf8.RuneCountInString(pw) < MinLength {
		return ErrTooShort
	}
	return nil
}

// Hasher hashes and verifies passwords at one bcrypt cost. It bounds how many
// bcrypt computations run at once, so that a flood of sign-in attempts queues
// instead of starving every other request of CPU.
type Hasher struct {
	cost  int
	dummy []byte        // hash of a random password, compared for unknown users
	slots chan struct{} // semaphore bounding concurrent bcrypt work
}

// NewHasher returns a Hasher for the given cost, which must lie between
// MinCost and bcrypt.MaxCost. At most concurrency hashes run at once; more
// wait their turn. Zero means one less than the CPUs (at least one), so that
// a flood of sign-in attempts leaves a core for every other request.
func NewHasher(cost, concurrency int) (*Hasher, error) {
	if cost < MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("password: bcrypt cost %d is outside %d..%d", cost, MinCost, bcrypt.MaxCost)
	}
	if concurrency <= 0 {
		concurrency = max(1, runtime.GOMAXPROCS(0)-1)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("password: dummy secret: %w", err)
	}
	// The dummy hash has the configured cost, so comparing against it takes as
	// long as comparing against a real user's hash.
	dummy, err := bcrypt.GenerateFromPassword([]byte(fmt.Sprintf("%x", secret)), cost)
	if err != nil {
		return nil, fmt.Errorf("password: dummy hash: %w", err)
	}
	return &Hasher{cost: cost, dummy: dummy, slots: make(chan struct{}, concurrency)}, nil
}

// Cost returns the bcrypt cost new hashes are made with.
func (h *Hasher) Cost() int { return h.cost }

// Hash returns the bcrypt hash of pw, which must pass Validate.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := Validate(pw); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), h.cost)
	if err != nil {
		return "", fmt.Errorf("password: hash: %w", err)
	}
	return string(b), nil
}

// Verify compares pw with hash. It returns ErrMismatch when they differ, and
// reports whether the hash should be recomputed because its cost differs from
// the configured one. A password over MaxBytes never matches.
func (h *Hasher) Verify(ctx context.Context, hash, pw string) (rehash bool, err error) {
	if len(pw) > MaxBytes {
		return false, ErrMismatch
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	switch err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)); {
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, ErrMismatch
	case err != nil:
		return false, fmt.Errorf("password: compare: %w", err)
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return false, fmt.Errorf("password: cost: %w", err)
	}
	return cost != h.cost, nil
}

// VerifyDummy spends the same time as Verify against a real hash and always
// fails. Callers use it for unknown users, so that response time does not
// reveal which user names exist.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	if _, err := h.Verify(ctx, string(h.dummy), pw); err != nil && !errors.Is(err, ErrMismatch) {
		return err
	}
	return ErrMismatch
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for a hashing slot: %w", context.Cause(ctx))
	}
}

func (h *Hasher) release() { <-h.slots }
