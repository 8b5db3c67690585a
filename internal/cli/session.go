package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/config"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/user"
)

// sessionConfig is the session manager's part of the configuration; serve
// and the session commands must agree on it, above all on the key prefix.
func sessionConfig(cfg config.Config) session.Config {
	return session.Config{
		Lifetime:            cfg.SessionLifetime,
		IdleTimeout:         cfg.SessionIdleTimeout,
		RememberLifetime:    cfg.SessionRememberLifetime,
		RememberIdleTimeout: cfg.SessionRememberIdleTimeout,
		RefreshInterval:     cfg.SessionRefreshInterval,
		MaxSessions:         cfg.SessionMaxPerUser,
		CookieSecure:        cfg.CookieSecure,
		CookieDomain:        cfg.CookieDomain,
		KeyPrefix:           cfg.RedisKeyPrefix,
		CookieName:          cfg.CookiePrefix() + session.CookieName,
		TokenIdleTimeout:    cfg.TokenSessionIdleTimeout,
		TokenLifetime:       cfg.TokenSessionLifetime,
		RefreshGrace:        cfg.RefreshGrace,
	}
}

// openSessions connects to Redis for a one-off command, failing at once
// when Redis does not answer.
func openSessions(ctx context.Context, cfg config.Config, log *slog.Logger) (*session.Manager, *redis.Pool, error) {
	pool, err := redispool.New(cfg.RedisURL, cfg.Redis)
	if err != nil {
		return nil, nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := redispool.Ping(pingCtx, pool); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("redis at %s: %w", redispool.Redact(cfg.RedisURL), err)
	}
	m, err := session.NewManager(pool, sessionConfig(cfg), log)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return m, pool, nil
}

// sessionCommand runs "session list USER" and "session revoke USER ID|--all".
func sessionCommand(ctx context.Context, env Env, args []string) error {
	if len(args) < 2 || strings.HasPrefix(args[1], "-") || (args[0] != "list" && args[0] != "revoke") {
		fmt.Fprint(env.Stderr, usage)
		return errUsage
	}
	sub, name, rest := args[0], args[1], args[2:]
	target := ""
	if sub == "revoke" {
		if len(rest) == 0 {
			fmt.Fprintln(env.Stderr, "authd session revoke: name a session id (see authd session list) or --all")
			return errUsage
		}
		target, rest = rest[0], rest[1:]
	}
	cfg, err := loadConfig(env, "session "+sub, rest)
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.Stderr)
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
	sessions, pool, err := openSessions(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pool.Close()

	switch {
	case sub == "list":
		list, err := sessions.List(ctx, u.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCLIENT\tADDRESS\tSIGNED IN\tLAST SEEN\tENDS IF UNUSED")
		for _, e := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.UserAgent, e.ClientAddr,
				e.SignedInAt.UTC().Format(time.RFC3339), e.LastSeen.UTC().Format(time.RFC3339), e.Expires.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case target == "--all":
		// The current epoch becomes the floor, so that a sign-in in flight
		// with credentials older than it cannot create a session now (this
		// is also how to finish a password change that could not end the
		// sessions because Redis was down).
		n, err := sessions.RevokeAll(ctx, u.ID, u.Epoch, session.EndRevoked)
		if err != nil {
			return err
		}
		log.Info("audit", "event", "session_revoke", "outcome", "success", "user_id", u.ID, "client", "cli", "sessions", n)
		if n > 0 {
			recordRevocation(ctx, cfg, db, log, u.ID, "authd session revoke --all")
		}
		fmt.Fprintf(env.Stdout, "ended %d session(s) of %q\n", n, u.Name)
		return nil
	default:
		if _, err := sessions.Revoke(ctx, u.ID, target); errors.Is(err, session.ErrNoSession) {
			return fmt.Errorf("%q has no session %q (see authd session list %s)", u.Name, target, name)
		} else if err != nil {
			return err
		}
		log.Info("audit", "event", "session_revoke", "outcome", "success", "user_id", u.ID, "client", "cli", "sessions", 1)
		recordRevocation(ctx, cfg, db, log, u.ID, "authd session revoke")
		fmt.Fprintf(env.Stdout, "ended session %s of %q\n", target, u.Name)
		return nil
	}
}

// recordRevocation shows in the user's activity that an operator ended
// their sessions: the client is the command line, as in the audit line.
// Best effort, like every activity event: the sessions have ended anyway.
func recordRevocation(ctx context.Context, cfg config.Config, db *sql.DB, log *slog.Logger, userID int64, command string) {
	err := activity.NewStore(db, cfg.ActivityRetention, activityPerUser).Record(ctx,
		activity.Event{UserID: userID, Kind: activity.Revoked, ClientAddr: "cli", UserAgent: command})
	if err != nil {
		log.Warn("record activity", "user_id", userID, "err", err)
	}
}
