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

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/config"
	"github.com/sessionauth/authd/internal/memredis"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/serverfile"
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
		ReplicaAckTimeout:   replicaAckTimeout(cfg.Redis.ReplicaAckTimeout),
		TokenIdleTimeout:    cfg.TokenSessionIdleTimeout,
		TokenLifetime:       cfg.TokenSessionLifetime,
		RefreshGrace:        cfg.RefreshGrace,
	}
}

// replicaAckTimeout maps REDIS_REPLICA_ACK_TIMEOUT (0: no wait) onto
// session.Config's (0: the default, negative: no wait).
func replicaAckTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// openSessions connects to Redis for a one-off command, failing at once
// when Redis does not answer.
func openSessions(ctx context.Context, env Env, cfg config.Config, log *slog.Logger) (*session.Manager, redispool.Source, error) {
	redisURL, embedded, err := serverRedis(env, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	pool, err := redispool.Open(ctx, redisURL, cfg.Redis)
	if err != nil {
		return nil, nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("redis at %s: %w", redispool.Redact(redisURL), err)
	}
	scfg := sessionConfig(cfg)
	if embedded {
		scfg.ReplicaAckTimeout = -1 // the embedded store has no replicas (nor WAIT)
	}
	m, err := session.NewManager(pool, scfg, log)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return m, pool, nil
}

// sessionCommand runs "session list USER" and "session revoke USER ID|--all".
func sessionCommand(ctx context.Context, env Env, args []string) error {
	if err := checkSubcommand(env, "session", args, "list", "revoke"); err != nil {
		return err
	}
	if len(args) < 2 || strings.HasPrefix(args[1], "-") {
		if len(args) > 1 && isHelp(args[1]) {
			return helpOf(env, "session "+args[0])
		}
		fmt.Fprintf(env.Stderr, "authd session %s: missing user name\n", args[0])
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
	sessions, pool, err := openSessions(ctx, env, cfg, log)
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

// serverRedis picks the Redis a command acts on: the one REDIS_URL (or
// -redis-url) names, unless it is left at its default or is memory://, in
// which case it is the Redis of the "authd serve" running on the same
// database, as that server recorded it (package serverfile). So after
// "make run" picked a private Redis or the embedded store, "authd session
// list" reads the sessions that server holds, and says which Redis it used.
func serverRedis(env Env, cfg config.Config, log *slog.Logger) (url string, embedded bool, err error) {
	memory := memredis.IsURL(cfg.RedisURL)
	explicit := !memory && (env.Getenv("REDIS_URL") != "" || cfg.RedisURL != config.DefaultRedisURL || len(cfg.Redis.ClusterAddrs) > 0)
	path, ok := serverfile.Path(cfg.DatabaseURL)
	if !ok {
		if memory {
			return "", false, errors.New("REDIS_URL=memory://: the embedded store lives inside the authd serve process, " +
				"and only a server on a SQLite database tells the command line where to reach it; " +
				"set REDIS_URL to a Redis both share")
		}
		return cfg.RedisURL, false, nil
	}
	info, err := serverfile.Read(path)
	switch {
	case errors.Is(err, serverfile.ErrNone) && memory:
		return "", false, fmt.Errorf("REDIS_URL=memory://: no authd serve is running on this database (%s is absent or stale); "+
			"the embedded store lives inside that process: start it first (make run)", path)
	case errors.Is(err, serverfile.ErrNone):
		return cfg.RedisURL, false, nil
	case err != nil:
		return "", false, err
	}
	if explicit {
		if info.RedisURL != cfg.RedisURL {
			log.Warn("the authd serve running on this database uses another Redis; acting on the one REDIS_URL names",
				"redis", redispool.Redact(cfg.RedisURL), "server_pid", info.PID, "server_redis", redispool.Redact(info.RedisURL))
		}
		return cfg.RedisURL, false, nil
	}
	where := redispool.Redact(info.RedisURL)
	if info.Memory {
		where = "its embedded store (" + where + ")"
	}
	fmt.Fprintf(env.Stderr, "authd: using the Redis of the authd serve running on this database (pid %d): %s\n", info.PID, where)
	return info.RedisURL, info.Memory, nil
}
