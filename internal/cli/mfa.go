package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/user"
)

// userMFA runs "authd user mfa NAME" (show the factors) and "authd user
// mfa reset NAME" (remove them all, end the user's sessions, audit line):
// the operator's way back in for someone who lost every factor.
func userMFA(ctx context.Context, env Env, args []string) error {
	reset := len(args) > 0 && args[0] == "reset"
	if reset {
		args = args[1:]
	}
	if len(args) > 0 && isHelp(args[0]) {
		return helpOf(env, "user mfa")
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(env.Stderr, "authd user mfa: missing user name")
		return errUsage
	}
	name, rest := args[0], args[1:]
	cfg, err := loadConfig(env, "user mfa", rest)
	if err != nil {
		return err
	}
	db, _, _, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := user.NewStore(db).ByName(ctx, name)
	if errors.Is(err, user.ErrNotFound) {
		return fmt.Errorf("no user named %q", name)
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.Stderr)
	keys, err := masterKey(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	store := mfa.NewStore(db, keys, "authd", nil)
	f, err := store.Factors(ctx, u.ID)
	if err != nil {
		return err
	}
	if !reset {
		passkeys, err := store.Passkeys(ctx, u.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "authenticator app: %s\nrecovery codes left: %d\npasskeys: %d\n", onOff(f.TOTP), f.RecoveryLeft, f.Passkeys)
		for _, p := range passkeys {
			fmt.Fprintf(env.Stdout, "  %s  added %s\n", p.Name, p.Created.UTC().Format("2006-01-02"))
		}
		return nil
	}
	if err := store.Reset(ctx, u.ID); err != nil {
		return err
	}
	log.Info("audit", "event", "mfa_reset", "outcome", "success", "user_id", u.ID, "client", "cli",
		"totp", f.TOTP, "passkeys", f.Passkeys, "recovery_codes", f.RecoveryLeft)
	if err := activity.NewStore(db, cfg.ActivityRetention, activityPerUser).Record(ctx,
		activity.Event{UserID: u.ID, Kind: activity.TOTPRemoved, ClientAddr: "cli", UserAgent: "authd user mfa reset"}); err != nil {
		log.Warn("record activity", "user_id", u.ID, "err", err)
	}
	fmt.Fprintf(env.Stdout, "removed every second factor of %q\n", u.Name)
	sessions, pool, err := openSessions(ctx, env, cfg, log)
	if err == nil {
		defer pool.Close()
		var n int
		if n, err = sessions.RevokeAll(ctx, u.ID, u.Epoch, session.EndRevoked); err == nil {
			fmt.Fprintf(env.Stdout, "ended %d session(s)\n", n)
			return nil
		}
	}
	return fmt.Errorf("the factors were removed, but the user's sessions could not be ended; "+
		"run \"authd session revoke %s --all\" once Redis answers: %w", name, err)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
