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
	"sync"
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
	dummy []byte // hash of a random password, compared for unknown users
	// work feeds the hashing workers: goroutines locked to OS threads of
	// the lowest CPU priority, so that bcrypt uses every idle core yet
	// yields to the threads serving other requests.
	work        chan func()
	concurrency int
	closed      chan struct{}
	closeOnce   sync.Once
}

// NewHasher returns a Hasher for the given cost, which must lie between
// MinCost and bcrypt.MaxCost. At most concurrency hashes run at once, each
// on a worker thread of the lowest CPU priority; more wait their turn. Zero
// means one per CPU. A flood of sign-in attempts then gets every core that
// is otherwise idle, and no more: the operating system runs the threads
// serving other requests first. The caller must give the Go scheduler
// concurrency Ps beyond its usual GOMAXPROCS (see Concurrency), or the
// workers would hold the Ps that other goroutines need. Close stops the
// workers.
func NewHasher(cost, concurrency int) (*Hasher, error) {
	return NewHasherPriority(cost, concurrency, true)
}

// NewHasherPriority is NewHasher with the workers' priority chosen: low
// (nice 19, as NewHasher), or the process's own. At the process's priority
// bcrypt competes with the requests for CPU, but is not starved by other
// processes on a busy machine (HASH_LOW_PRIORITY=false; tests use it).
func NewHasherPriority(cost, concurrency int, low bool) (*Hasher, error) {
	if cost < MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("password: bcrypt cost %d is outside %d..%d", cost, MinCost, bcrypt.MaxCost)
	}
	return newHasher(cost, concurrency, low)
}

// NewTestHasher returns a Hasher for tests in which bcrypt's cost is not
// what is tested: bcrypt's lowest cost (4, below the MinCost a server
// accepts; about 1 ms a hash instead of 50) on workers at the process's
// priority, one per CPU. Hashes it makes verify with any Hasher.
func NewTestHasher() (*Hasher, error) {
	return newHasher(bcrypt.MinCost, 0, false)
}

func newHasher(cost, concurrency int, low bool) (*Hasher, error) {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
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
	h := &Hasher{cost: cost, dummy: dummy, work: make(chan func()), concurrency: concurrency, closed: make(chan struct{})}
	for range concurrency {
		go h.worker(low)
	}
	return h, nil
}

// Concurrency is the number of hashing workers.
func (h *Hasher) Concurrency() int { return h.concurrency }

// Close stops the workers; hashing afterwards fails.
func (h *Hasher) Close() { h.closeOnce.Do(func() { close(h.closed) }) }

// worker runs hashing jobs on a thread of its own with the lowest priority.
// The thread is never unlocked: it ends with the worker, so its lowered
// priority never passes to other goroutines.
func (h *Hasher) worker(low bool) {
	runtime.LockOSThread()
	if low {
		lowerThreadPriority()
	}
	for {
		select {
		case f := <-h.work:
			f()
		case <-h.closed:
			return
		}
	}
}

// run executes f on a worker, waiting for a free one until ctx ends. Once
// started, f runs to completion: bcrypt cannot be interrupted.
func (h *Hasher) run(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case h.work <- func() { defer close(done); f() }:
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for a hashing slot: %w", context.Cause(ctx))
	case <-h.closed:
		return errors.New("password: hasher closed")
	}
	<-done
	return nil
}

// Cost returns the bcrypt cost new hashes are made with.
func (h *Hasher) Cost() int { return h.cost }

// Hash returns the bcrypt hash of pw, which must pass Validate.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := Validate(pw); err != nil {
		return "", err
	}
	var (
		b   []byte
		gen error
	)
	if err := h.run(ctx, func() { b, gen = bcrypt.GenerateFromPassword([]byte(pw), h.cost) }); err != nil {
		return "", err
	}
	if gen != nil {
		return "", fmt.Errorf("password: hash: %w", gen)
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
	var cmp error
	if err := h.run(ctx, func() { cmp = bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) }); err != nil {
		return false, err
	}
	switch err := cmp; {
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
