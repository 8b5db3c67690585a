package notice

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/mail"
	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/user"
)

type fixture struct {
	m      *Mailer
	users  *user.Store
	tokens *emailtoken.Store
	outbox *mail.Outbox
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	ctx := context.Background()
	db, dialect, err := database.Open(ctx, testenv.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := database.Migrate(ctx, db, dialect); err != nil {
		t.Fatal(err)
	}
	f := &fixture{users: user.NewStore(db), tokens: emailtoken.NewStore(db, nil), outbox: mail.NewOutbox(db, 100, nil)}
	cfg.Outbox, cfg.Users, cfg.Tokens = f.outbox, f.users, f.tokens
	if cfg.PublicURL == "" {
		cfg.PublicURL = "https://auth.example.com/"
	}
	if f.m, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) user(t *testing.T, name, confirmed string) user.User {
	t.Helper()
	ctx := context.Background()
	u, err := f.users.Create(ctx, name, "$2a$10$not.a.real.hash.but.nonempty")
	if err != nil {
		t.Fatal(err)
	}
	if confirmed != "" {
		if err := f.users.SetPendingEmail(ctx, u.ID, confirmed); err != nil {
			t.Fatal(err)
		}
		if _, err := f.users.ConfirmEmail(ctx, u.ID, confirmed); err != nil {
			t.Fatal(err)
		}
	}
	u, err = f.users.ByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) compose(t *testing.T, kind string, j job) (mail.Message, error) {
	t.Helper()
	b, _ := json.Marshal(j)
	return f.m.Compose(context.Background(), kind, b)
}

func TestEveryKindRenders(t *testing.T) {
	f := newFixture(t, Config{NewDevice: true, PasswordChange: true, FactorChange: true})
	u := f.user(t, "alice", "alice@example.com")
	d := job{UserID: u.ID, At: time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC), Client: "192.0.2.7", Agent: "Firefox on Linux"}
	for _, tc := range []struct {
		kind    string
		j       job
		to      string
		subject string
		want    []string
	}{
		{kindReset, d, "alice@example.com", "Reset your password for alice", []string{"https://auth.example.com/reset?token=", "30 minutes"}},
		{kindNewDevice, d, "alice@example.com", "New sign-in to alice", []string{"Firefox on Linux", "192.0.2.7", "2026-12-01 10:30 UTC", "https://auth.example.com/account/sessions"}},
		{kindPasswordChanged, d, "alice@example.com", "Your password was changed", []string{"https://auth.example.com/forgot"}},
		{kindPasswordReset, d, "alice@example.com", "Your password was reset", []string{"signed out"}},
		{kindEmailChanged, job{UserID: u.ID, Address: "old@example.com", NewAddress: "alice@example.com"}, "old@example.com", "The e-mail address of alice was changed", []string{"to alice@example.com"}},
		{kindEmailChanged, job{UserID: u.ID, Address: "old@example.com"}, "old@example.com", "The e-mail address of alice was changed", []string{"was removed"}},
		{kindFactorChanged, job{UserID: u.ID, What: "An authenticator app was added"}, "alice@example.com", "A sign-in factor of alice was changed", []string{"An authenticator app was added"}},
	} {
		m, err := f.compose(t, tc.kind, tc.j)
		if err != nil {
			t.Errorf("%s: %v", tc.kind, err)
			continue
		}
		if m.To != tc.to || m.Subject != tc.subject {
			t.Errorf("%s: to %q subject %q, want %q %q", tc.kind, m.To, m.Subject, tc.to, tc.subject)
		}
		for _, w := range tc.want {
			if !strings.Contains(m.Text, w) {
				t.Errorf("%s: text lacks %q:\n%s", tc.kind, w, m.Text)
			}
		}
		if !strings.Contains(m.HTML, "<!doctype html>") || !strings.Contains(m.HTML, "alice") {
			t.Errorf("%s: HTML part %q", tc.kind, m.HTML)
		}
	}
}

// A reset link and every notice go only to the confirmed address: never
// to a pending one, and nowhere when there is none.
func TestOnlyTheConfirmedAddressGetsMail(t *testing.T) {
	f := newFixture(t, Config{NewDevice: true})
	ctx := context.Background()
	bob := f.user(t, "bob", "")
	if err := f.users.SetPendingEmail(ctx, bob.ID, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{kindReset, kindNewDevice, kindPasswordReset} {
		if _, err := f.compose(t, kind, job{UserID: bob.ID}); !errors.Is(err, mail.ErrSkip) {
			t.Errorf("%s for an account with only a pending address: %v, want ErrSkip", kind, err)
		}
	}
	if _, err := f.compose(t, kindReset, job{UserID: 0}); !errors.Is(err, mail.ErrSkip) {
		t.Errorf("reset for nobody: %v, want ErrSkip", err)
	}
	// The confirmation of the pending address does go to it...
	m, err := f.compose(t, kindConfirm, job{UserID: bob.ID, Address: "bob@example.com"})
	if err != nil || m.To != "bob@example.com" || !strings.Contains(m.Text, "https://auth.example.com/email/verify?token=") {
		t.Fatalf("confirmation: %+v, %v", m, err)
	}
	// ...but not once another address has replaced it.
	if err := f.users.SetPendingEmail(ctx, bob.ID, "bob2@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.compose(t, kindConfirm, job{UserID: bob.ID, Address: "bob@example.com"}); !errors.Is(err, mail.ErrSkip) {
		t.Fatalf("superseded confirmation: %v, want ErrSkip", err)
	}
}

// An address already confirmed by another account gets a warning instead
// of a link, and no token is issued for it.
func TestConfirmingAnAddressInUse(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	f.user(t, "alice", "alice@example.com")
	mallory := f.user(t, "mallory", "")
	if err := f.users.SetPendingEmail(ctx, mallory.ID, "ALICE@example.com"); err != nil {
		t.Fatal(err)
	}
	m, err := f.compose(t, kindConfirm, job{UserID: mallory.ID, Address: "ALICE@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Your e-mail address already has an account" || strings.Contains(m.Text, "token=") {
		t.Fatalf("got %q:\n%s", m.Subject, m.Text)
	}
}

func TestNoticesTheOperatorTurnedOff(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	u := f.user(t, "alice", "alice@example.com")
	for _, send := range []func() error{
		func() error { return f.m.NewDevice(ctx, u.ID, Device{}) },
		func() error { return f.m.PasswordChanged(ctx, u.ID, Device{}) },
		func() error { return f.m.FactorChanged(ctx, u.ID, "x", Device{}) },
	} {
		if err := send(); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := f.outbox.Len(ctx); n != 0 {
		t.Fatalf("%d jobs enqueued with every optional notice off", n)
	}
	// The reset notice (R3) and the old-address warning are not optional.
	if err := f.m.PasswordReset(ctx, u.ID, Device{}); err != nil {
		t.Fatal(err)
	}
	if err := f.m.AddressChanged(ctx, u.ID, "old@example.com", "", Device{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.outbox.Len(ctx); n != 2 {
		t.Fatalf("%d jobs, want 2", n)
	}
}

func TestParsePublicURL(t *testing.T) {
	for _, ok := range []string{"https://auth.example.com", "http://localhost:8080/", "https://example.com/auth"} {
		if _, err := ParsePublicURL(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "auth.example.com", "ftp://x", "https://", "https://x?y=1", "https://u:p@x", "javascript:alert(1)"} {
		if _, err := ParsePublicURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
