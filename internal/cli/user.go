package cli

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/user"
)

// openDatabase opens the user database and applies pending migrations,
// returning the versions it applied.
func openDatabase(ctx context.Context, url string) (*sql.DB, database.Dialect, []int64, error) {
	db, dialect, err := database.Open(ctx, url)
	if err != nil {
		return nil, "", nil, err
	}
	applied, err := database.Migrate(ctx, db, dialect)
	if err != nil {
		db.Close()
		return nil, "", nil, err
	}
	return db, dialect, applied, nil
}

// migrate applies pending migrations and reports the schema version.
func migrate(ctx context.Context, env Env, args []string) error {
	cfg, err := loadConfig(env, "migrate", args)
	if err != nil {
		return err
	}
	db, dialect, applied, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := database.Version(ctx, db, dialect)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "applied %d migration(s); schema version %d (%s)\n", len(applied), v, dialect)
	return nil
}

// userCommand runs "user add|passwd|list". Passwords are read from stdin,
// never from the command line, where other users could see them in ps.
func userCommand(ctx context.Context, env Env, args []string) error {
	if err := checkSubcommand(env, "user", args, "add", "passwd", "list", "groups", "mfa"); err != nil {
		return err
	}
	sub, rest := args[0], args[1:]
	if sub == "groups" {
		return userGroups(ctx, env, rest)
	}
	if sub == "mfa" {
		return userMFA(ctx, env, rest)
	}
	var name string
	if sub == "add" || sub == "passwd" {
		if len(rest) > 0 && isHelp(rest[0]) {
			return helpOf(env, "user "+sub)
		}
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintf(env.Stderr, "authd user %s: missing user name\n", sub)
			return errUsage
		}
		name, rest = rest[0], rest[1:]
	}
	cfg, err := loadConfig(env, "user "+sub, rest)
	if err != nil {
		return err
	}
	db, _, _, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	users := user.NewStore(db)

	switch sub {
	case "list":
		list, err := users.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED")
		for _, u := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", u.ID, u.Name, u.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "add", "passwd":
		hasher, err := password.NewHasherPriority(cfg.BcryptCost, 1, cfg.HashLowPriority)
		if err != nil {
			return err
		}
		defer hasher.Close()
		pw, err := readPassword(env)
		if err != nil {
			return err
		}
		hash, err := hasher.Hash(ctx, pw)
		if err != nil {
			return err
		}
		if sub == "add" {
			u, err := users.Create(ctx, name, hash)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "created user %q (id %d)\n", u.Name, u.ID)
			return nil
		}
		u, err := users.ByName(ctx, name)
		if errors.Is(err, user.ErrNotFound) {
			return fmt.Errorf("no user named %q", name)
		}
		if err != nil {
			return err
		}
		// A reset is a credential change: bump the epoch, then end every
		// session, including sign-ins in flight with the old password.
		epoch, err := users.ChangePassword(ctx, u.ID, hash)
		if err != nil {
			return err
		}
		log := newLogger(cfg, env.Stderr)
		if err := activity.NewStore(db, cfg.ActivityRetention, activityPerUser).Record(ctx,
			activity.Event{UserID: u.ID, Kind: activity.PasswordChanged, ClientAddr: "cli", UserAgent: "authd user passwd"}); err != nil {
			log.Warn("record activity", "user_id", u.ID, "err", err)
		}
		fmt.Fprintf(env.Stdout, "password changed for %q\n", u.Name)
		sessions, pool, err := openSessions(ctx, env, cfg, log)
		if err == nil {
			defer pool.Close()
			var n int
			if n, err = sessions.RevokeAll(ctx, u.ID, epoch, session.EndPasswordChanged); err == nil {
				log.Info("audit", "event", "password_change", "outcome", "success", "user_id", u.ID, "client", "cli", "sessions_ended", n)
				fmt.Fprintf(env.Stdout, "ended %d session(s)\n", n)
				return nil
			}
		}
		return fmt.Errorf("the password was changed, but the user's sessions could not be ended; "+
			"run \"authd session revoke %s --all\" once Redis answers: %w", name, err)
	}
	fmt.Fprintf(env.Stderr, "authd user: unknown subcommand %q\n", sub)
	return errUsage
}

// readPassword reads a new password: twice without echo from a terminal, or
// one line from a pipe (for scripts: printf '%s\n' "$PW" | authd user add NAME).
func readPassword(env Env) (string, error) {
	if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.Stderr, "New password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(env.Stderr, "Repeat it: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("read password: expected one line on stdin")
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}
