package cli

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/secret"
	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/user"
)

// TestUserMFACommands shows a user's factors and resets them: the factors
// are gone, the user's sessions end, and nobody else's.
func TestUserMFACommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := map[string]string{
		"DATABASE_URL": testenv.SQLiteURL(t),
		"REDIS_URL":    testenv.StartRedis(t).URL,
		"BCRYPT_COST":  "10",
		"LISTEN_ADDR":  "127.0.0.1:0",
	}
	p := newProgram(t, env)
	p.addUser("alice", "alice password one")
	base, _ := p.serve()
	b := newBrowser(t, base)
	if code := b.login("alice", "alice password one"); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", code)
	}

	db, _, err := database.Open(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, _, err := secret.FromDatabase(ctx, db) // the key serve generated
	if err != nil {
		t.Fatal(err)
	}
	store := mfa.NewStore(db, keys, "authd", nil)
	u, err := user.NewStore(db).ByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	key, err := store.BeginTOTP(ctx, u.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(key.Secret(), time.Now())
	if err := store.ConfirmTOTP(ctx, u.ID, code); err != nil {
		t.Fatal(err)
	}
	if _, err := store.NewRecoveryCodes(ctx, u.ID); err != nil {
		t.Fatal(err)
	}

	out, err := p.run("", "user", "mfa", "alice")
	if err != nil || !strings.Contains(out, "authenticator app: on") || !strings.Contains(out, "recovery codes left: 10") {
		t.Fatalf("user mfa: %v, output %q", err, out)
	}
	out, err = p.run("", "user", "mfa", "reset", "alice")
	if err != nil || !strings.Contains(out, "removed every second factor") || !strings.Contains(out, "ended 1 session") {
		t.Fatalf("user mfa reset: %v, output %q", err, out)
	}
	if f, err := store.Factors(ctx, u.ID); err != nil || f.Any() || f.RecoveryLeft != 0 {
		t.Fatalf("factors after reset: %+v, %v", f, err)
	}
	if code := b.me(); code != http.StatusUnauthorized {
		t.Errorf("alice's session after the reset: /api/me %d, want 401", code)
	}
	if _, err := p.run("", "user", "mfa", "nobody"); err == nil {
		t.Error("user mfa of an unknown user: no error")
	}
}
