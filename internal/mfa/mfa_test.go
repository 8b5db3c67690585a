package mfa_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/secret"
	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/user"
)

// clock is a settable time for the TOTP steps.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(c.t.Load(), 0) }
func (c *clock) set(t time.Time)     { c.t.Store(t.Unix()) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d / time.Second)) }

type env struct {
	store *mfa.Store
	users *user.Store
	clock *clock
	keys  *secret.Keys
	db    *sql.DB
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvAt(t, testenv.SQLiteURL(t))
}

func newEnvAt(t testing.TB, dbURL string) *env {
	t.Helper()
	ctx := context.Background()
	db, dialect, err := database.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := database.Migrate(ctx, db, dialect); err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	c.set(time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC))
	keys := secret.Generate()
	return &env{store: mfa.NewStore(db, keys, "authd test", c.now), users: user.NewStore(db), clock: c, keys: keys, db: db}
}

func (e *env) user(t testing.TB, name string) user.User {
	t.Helper()
	u, err := e.users.Create(context.Background(), name, "$2a$04$xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// code is the TOTP code of key at the clock's time shifted by steps.
func (e *env) code(t testing.TB, key *otp.Key, steps int) string {
	t.Helper()
	c, err := totp.GenerateCode(key.Secret(), e.clock.now().Add(time.Duration(steps)*mfa.Period*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolled returns an account with a confirmed TOTP secret.
func (e *env) enrolled(t testing.TB, name string) (user.User, *otp.Key) {
	t.Helper()
	ctx := context.Background()
	u := e.user(t, name)
	key, err := e.store.BeginTOTP(ctx, u.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.ConfirmTOTP(ctx, u.ID, e.code(t, key, 0)); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	e.clock.add(mfa.Period * time.Second) // the confirming code's step is spent
	return u, key
}

// M1: a code works once; ±1 step is accepted, ±2 refused.
func TestTOTPReplayAndSkew(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u, key := e.enrolled(t, "alice")

	c := e.code(t, key, 0)
	if err := e.store.VerifyTOTP(ctx, u.ID, c); err != nil {
		t.Fatalf("current code refused: %v", err)
	}
	if err := e.store.VerifyTOTP(ctx, u.ID, c); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("replayed code: %v, want ErrInvalidCode", err)
	}
	// The previous step's code is older than the one just used: refused too.
	if err := e.store.VerifyTOTP(ctx, u.ID, e.code(t, key, -1)); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("code of an earlier step after a later one: %v, want ErrInvalidCode", err)
	}

	e.clock.add(10 * mfa.Period * time.Second)
	if err := e.store.VerifyTOTP(ctx, u.ID, e.code(t, key, -2)); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("code two steps old: %v, want ErrInvalidCode", err)
	}
	if err := e.store.VerifyTOTP(ctx, u.ID, e.code(t, key, 2)); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("code two steps ahead: %v, want ErrInvalidCode", err)
	}
	if err := e.store.VerifyTOTP(ctx, u.ID, e.code(t, key, -1)); err != nil {
		t.Errorf("code one step old: %v", err)
	}
	if err := e.store.VerifyTOTP(ctx, u.ID, e.code(t, key, 1)); err != nil {
		t.Errorf("code one step ahead: %v", err)
	}
	if err := e.store.VerifyTOTP(ctx, u.ID, e.code(t, key, 0)); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("current code after the next step's was used: %v, want ErrInvalidCode", err)
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef", strings.Repeat("9", 4000)} {
		if err := e.store.VerifyTOTP(ctx, u.ID, bad); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Errorf("code %.10q: %v, want ErrInvalidCode", bad, err)
		}
	}
}

// M1: of many requests racing with one code, exactly one wins.
func TestTOTPRaceOneWinner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, key := e.enrolled(t, "bob")
	c := e.code(t, key, 0)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if e.store.VerifyTOTP(context.Background(), u.ID, c) == nil {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d requests accepted one code, want 1", wins.Load())
	}
}

func TestTOTPEnrollment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.user(t, "carol")
	key, err := e.store.BeginTOTP(ctx, u.ID, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := e.store.Factors(ctx, u.ID); f.TOTP || f.Any() {
		t.Fatalf("unconfirmed secret counts as a factor: %+v", f)
	}
	if err := e.store.VerifyTOTP(ctx, u.ID, e.code(t, key, 0)); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("unconfirmed secret signs in: %v", err)
	}
	again, err := e.store.PendingTOTP(ctx, u.ID, "carol")
	if err != nil || again.Secret() != key.Secret() {
		t.Fatalf("pending secret: %v, %v; want the one begun", again, err)
	}
	if err := e.store.ConfirmTOTP(ctx, u.ID, "000000"); !errors.Is(err, mfa.ErrInvalidCode) && e.code(t, key, 0) != "000000" {
		t.Fatalf("wrong confirmation code: %v", err)
	}
	if err := e.store.ConfirmTOTP(ctx, u.ID, e.code(t, key, 0)); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.store.Factors(ctx, u.ID); !f.TOTP {
		t.Fatal("confirmed secret is no factor")
	}
	if _, err := e.store.BeginTOTP(ctx, u.ID, "carol"); !errors.Is(err, mfa.ErrEnrolled) {
		t.Fatalf("second enrollment over a confirmed one: %v, want ErrEnrolled", err)
	}
	// Sealed at rest: the stored column is not the base32 secret.
	var stored string
	if err := e.db.QueryRowContext(ctx, `SELECT secret FROM mfa_totp WHERE user_id = $1`, u.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, key.Secret()) {
		t.Fatal("the TOTP secret is stored in the clear")
	}
	// Another master key cannot open it.
	other := mfa.NewStore(e.db, secret.Generate(), "x", e.clock.now)
	e.clock.add(mfa.Period * time.Second)
	if err := other.VerifyTOTP(ctx, u.ID, e.code(t, key, 0)); err == nil || errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("secret opened under another master key: %v", err)
	}
}

// M2: ten codes of ≥ 80 bits, stored hashed, each works once.
func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.user(t, "dave")
	codes, err := e.store.NewRecoveryCodes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != mfa.RecoveryCodes {
		t.Fatalf("%d codes, want %d", len(codes), mfa.RecoveryCodes)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if n := len(strings.ReplaceAll(c, "-", "")); n*5 < 80 {
			t.Errorf("code %q carries %d bits, want ≥ 80", c, n*5)
		}
		if seen[c] {
			t.Errorf("code %q twice", c)
		}
		seen[c] = true
		var n int
		if err := e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM mfa_recovery WHERE code_hash LIKE $1`, "%"+strings.ReplaceAll(c, "-", "")+"%").Scan(&n); err != nil || n != 0 {
			t.Errorf("code %q stored in the clear (%v)", c, err)
		}
	}
	if err := e.store.UseRecoveryCode(ctx, u.ID, strings.ToUpper(codes[3])); err != nil {
		t.Fatalf("first use (upper case): %v", err)
	}
	if err := e.store.UseRecoveryCode(ctx, u.ID, codes[3]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("second use: %v, want ErrInvalidCode", err)
	}
	if f, _ := e.store.Factors(ctx, u.ID); f.RecoveryLeft != mfa.RecoveryCodes-1 {
		t.Fatalf("%d codes left, want %d", f.RecoveryLeft, mfa.RecoveryCodes-1)
	}
	// Another account's code is no good here.
	v := e.user(t, "erin")
	if err := e.store.UseRecoveryCode(ctx, v.ID, codes[4]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("another account's code: %v", err)
	}
	// Regenerating voids the old ones.
	if _, err := e.store.NewRecoveryCodes(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.store.UseRecoveryCode(ctx, u.ID, codes[5]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("old code after regeneration: %v", err)
	}
	// Racing uses of one code: one wins.
	fresh, _ := e.store.NewRecoveryCodes(ctx, u.ID)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if e.store.UseRecoveryCode(context.Background(), u.ID, fresh[0]) == nil {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d uses of one recovery code succeeded, want 1", wins.Load())
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u, _ := e.enrolled(t, "frank")
	if _, err := e.store.NewRecoveryCodes(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Reset(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.store.Factors(ctx, u.ID); f.Any() || f.RecoveryLeft != 0 {
		t.Fatalf("factors after reset: %+v", f)
	}
}

// The same SQL on PostgreSQL: enrollment's upsert, the atomic step update
// and the single-use recovery codes.
func TestPostgres(t *testing.T) {
	t.Parallel()
	e := newEnvAt(t, testenv.PostgresURL(t))
	ctx := context.Background()
	u, key := e.enrolled(t, "pgalice")
	c := e.code(t, key, 0)
	if err := e.store.VerifyTOTP(ctx, u.ID, c); err != nil {
		t.Fatal(err)
	}
	if err := e.store.VerifyTOTP(ctx, u.ID, c); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("replay on PostgreSQL: %v", err)
	}
	codes, err := e.store.NewRecoveryCodes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.UseRecoveryCode(ctx, u.ID, codes[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.store.UseRecoveryCode(ctx, u.ID, codes[0]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("recovery code reused on PostgreSQL: %v", err)
	}
	if f, err := e.store.Factors(ctx, u.ID); err != nil || !f.TOTP || f.RecoveryLeft != 9 {
		t.Fatalf("factors on PostgreSQL: %+v, %v", f, err)
	}
	if err := e.store.Reset(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
}

func TestPasskeyStore(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(testing.TB) string{"sqlite": testenv.SQLiteURL, "postgres": testenv.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnvAt(t, url(t))
			ctx := context.Background()
			u, v := e.user(t, "pk1"), e.user(t, "pk2")
			cred := &webauthn.Credential{ID: []byte{1, 2, 3, 4}, PublicKey: []byte{9}}
			p, err := e.store.AddPasskey(ctx, u.ID, "Laptop", cred)
			if err != nil {
				t.Fatal(err)
			}
			if owner, err := e.store.PasskeyOwner(ctx, cred.ID); err != nil || owner != u.ID {
				t.Fatalf("owner %d, %v", owner, err)
			}
			if err := e.store.RenamePasskey(ctx, v.ID, p.ID, "Stolen"); !errors.Is(err, mfa.ErrNoPasskey) {
				t.Fatalf("another account renames it: %v", err)
			}
			if err := e.store.RemovePasskey(ctx, v.ID, p.ID); !errors.Is(err, mfa.ErrNoPasskey) {
				t.Fatalf("another account removes it: %v", err)
			}
			if err := e.store.RenamePasskey(ctx, u.ID, p.ID, "Work"); err != nil {
				t.Fatal(err)
			}
			keys, err := e.store.Passkeys(ctx, u.ID)
			if err != nil || len(keys) != 1 || keys[0].Name != "Work" || len(keys[0].Credential.PublicKey) != 1 {
				t.Fatalf("passkeys %+v, %v", keys, err)
			}
			if f, _ := e.store.Factors(ctx, u.ID); f.Passkeys != 1 || !f.Any() {
				t.Fatalf("factors %+v", f)
			}
			if err := e.store.RemovePasskey(ctx, u.ID, p.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.PasskeyOwner(ctx, cred.ID); !errors.Is(err, mfa.ErrNoPasskey) {
				t.Fatalf("removed passkey still has an owner: %v", err)
			}
		})
	}
}
