package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/clientip"
	"github.com/sessionauth/authd/internal/config"
	"github.com/sessionauth/authd/internal/device"
	"github.com/sessionauth/authd/internal/group"
	"github.com/sessionauth/authd/internal/memredis"
	"github.com/sessionauth/authd/internal/metrics"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/server"
	"github.com/sessionauth/authd/internal/serverfile"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/user"
)

// activityPerUser bounds the activity events kept for each user.
const activityPerUser = 200

// serve runs the web server until SIGINT, SIGTERM or ctx ends, then lets
// in-flight requests finish.
func serve(ctx context.Context, env Env, args []string) error {
	cfg, err := loadConfig(env, "serve", args)
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.Stderr)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The database is needed before anything else: migrations run first.
	db, dialect, applied, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	log.Info("database ready", "dialect", dialect, "migrations_applied", len(applied))

	// Redis may be down at start: the server still starts, answers 503 where
	// it needs sessions, says so in /readyz, and recovers when Redis returns.
	redisURL, storeWarning := cfg.RedisURL, ""
	if memredis.IsURL(cfg.RedisURL) {
		store, err := memredis.Start()
		if err != nil {
			return err
		}
		defer store.Close()
		redisURL, storeWarning = store.RedisURL(), memredis.Warning
		log.Warn(strings.ToUpper(storeWarning[:1])+storeWarning[1:], "store", redispool.Redact(redisURL))
	}
	pool, err := redispool.Open(ctx, redisURL, cfg.Redis)
	if err != nil {
		return err
	}
	defer pool.Close()
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if err := pool.Ping(pingCtx); err != nil {
		cancel()
		where := redispool.Redact(redisURL)
		if len(cfg.Redis.SentinelAddrs) > 0 {
			where = "sentinels " + strings.Join(cfg.Redis.SentinelAddrs, ",") + " master " + cfg.Redis.SentinelMaster
		}
		if len(cfg.Redis.ClusterAddrs) > 0 {
			where = "cluster nodes " + strings.Join(cfg.Redis.ClusterAddrs, ",")
		}
		// A Redis that answers with an error (a wrong password, a database
		// number it does not have) will not start working by itself: that
		// is a setting to fix, not an outage to ride out.
		if redispool.IsRefusal(err) {
			return fmt.Errorf("REDIS_URL: redis at %s refused the connection: %w", where, err)
		}
		log.Warn("redis not reachable; starting anyway (see /readyz)", "redis", where, "err", err)
	}
	cancel()

	hasher, err := password.NewHasherPriority(cfg.BcryptCost, cfg.HashConcurrency, cfg.HashLowPriority)
	if err != nil {
		return err
	}
	defer hasher.Close()
	// The hashing workers hold a P each while bcrypt runs on their
	// low-priority threads; without Ps of their own the Go scheduler would
	// make every other request wait behind them for a whole time slice.
	// (Setting it turns off the runtime's own tracking of the CPU limit
	// while serving; the default comes back when serve returns.)
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + hasher.Concurrency())
	defer runtime.SetDefaultGOMAXPROCS()
	clients, err := clientip.New(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	m := metrics.New()
	m.RegisterPool(pool)
	scfg := sessionConfig(cfg)
	scfg.ClientAddr = clients.Addr
	scfg.OnReplicaAckMissed = m.ReplicaAckMissed
	if storeWarning != "" {
		// The embedded store has no replicas to wait for (nor WAIT).
		scfg.ReplicaAckTimeout = -1
	}
	sessions, err := session.NewManager(pool, scfg, log)
	if err != nil {
		return err
	}
	keys, err := masterKey(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	devices, err := device.New(device.Config{
		Key: keys.Derive(device.Purpose), Lifetime: cfg.DeviceTokenLifetime,
		CookieName: cfg.CookiePrefix() + device.CookieName, Secure: cfg.CookieSecure,
	})
	if err != nil {
		return err
	}
	issuer, err := newIssuer(ctx, cfg, db, keys)
	if err != nil {
		return err
	}
	var resourceServers []server.ResourceServer
	for _, s := range cfg.ResourceServers {
		rs, err := config.ParseResourceServer(s)
		if err != nil {
			return err
		}
		resourceServers = append(resourceServers, server.ResourceServer{ID: rs.ID, SecretHash: rs.SecretHash})
	}
	groups := group.NewStore(db)
	guard, err := newGuard(cfg, groups, log)
	if err != nil {
		return err
	}
	if cfg.AccessRulesFile != "" {
		reloadRulesOnHUP(ctx, cfg.AccessRulesFile, guard, log)
	}
	users := user.NewStore(db)
	mails, err := newMailing(cfg, db, users, log)
	if err != nil {
		return err
	}
	// Passkeys need the origin users see: on with PUBLIC_URL only.
	var passkeys *webauthn.WebAuthn
	if cfg.PublicURL != "" {
		if passkeys, err = mfa.NewWebAuthn(cfg.PublicURL); err != nil {
			// An IP address is a fine PUBLIC_URL for everything else, but
			// WebAuthn needs a domain: say so, and serve without passkeys.
			log.Warn("passkeys are off", "err", err)
			passkeys = nil
		}
	} else {
		log.Info("passkeys are off: set PUBLIC_URL to turn them on")
	}
	handler, err := server.New(server.Config{
		MFA:        mfa.NewStore(db, keys, "authd", nil),
		WebAuthn:   passkeys,
		Challenges: mfa.NewChallenges(pool, cfg.RedisKeyPrefix+"webauthn:", 0),
		Mail:       mails.mailer,
		Tokens:     mails.tokens,
		Passwords:  mails.passwords,
		Groups:     groups,
		Forward:    guard,
		Metrics:    m,
		Log:        log,
		Users:      users,
		Sessions:   sessions,
		Hasher:     hasher,
		Activity:   activity.NewStore(db, cfg.ActivityRetention, activityPerUser),
		Throttle:   throttle.New(pool, cfg.RedisKeyPrefix+"throttle:"),
		ClientAddr: clients.Addr,
		Limits: server.Limits{
			AccountFailures: cfg.ThrottleAccountFailures,
			AddrFailures:    cfg.ThrottleAddrFailures,
			Signups:         cfg.ThrottleSignups,
			ResetRequests:   cfg.ThrottleResetRequests,
			ResetClients:    cfg.ThrottleResetAddr,
			DeviceFailures:  cfg.ThrottleDeviceFailures,
			Window:          cfg.ThrottleWindow,
		},
		DB:             db,
		Redis:          pool,
		StoreWarning:   storeWarning,
		SignupEnabled:  cfg.SignupEnabled,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		HSTSMaxAge:     cfg.HSTSMaxAge,
		TrustedOrigins: cfg.TrustedOrigins,
		CookieSecure:   cfg.CookieSecure,

		Devices:               devices,
		AccessTokens:          issuer,
		TokenAudiences:        cfg.TokenAudiences,
		ResourceServers:       resourceServers,
		CORSOrigins:           cfg.CORSOrigins,
		HSTSIncludeSubdomains: cfg.HSTSIncludeSubdomains,
		HSTSPreload:           cfg.HSTSPreload,
	})
	if err != nil {
		return err
	}

	ln, also, err := listen(cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second, // a slow client cannot hold a connection open
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig(),
	}
	scheme := "http"
	if cfg.TLS() {
		scheme = "https"
	}
	fmt.Fprintf(env.Stdout, "authd listening on %s://%s\n", scheme, ln.Addr())
	for _, a := range also {
		fmt.Fprintf(env.Stdout, "authd listening on %s://%s\n", scheme, a)
	}
	log.Info("listening", "addr", ln.Addr().String(), "tls", cfg.TLS(), "signup", cfg.SignupEnabled)

	// The commands of the command line find this server's Redis here.
	if path, ok := serverfile.Path(cfg.DatabaseURL); ok {
		pid := os.Getpid()
		if err := serverfile.Write(path, serverfile.Info{PID: pid, RedisURL: redispool.StoreURL(redisURL, cfg.Redis.ClusterAddrs), Memory: storeWarning != ""}); err != nil {
			log.Warn("the command line will not find this server's Redis", "err", err)
		} else {
			defer serverfile.Remove(path, pid)
		}
	}

	// Mail is sent off the request path, by this worker (and those of
	// the other instances sharing the database).
	mailCtx, stopMail := context.WithCancel(context.WithoutCancel(ctx))
	mailDone := mails.run(mailCtx)
	defer func() { stopMail(); <-mailDone }()

	errc := make(chan error, 2)
	go func() {
		if cfg.TLS() {
			errc <- srv.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	servers := []*http.Server{srv}
	if cfg.MetricsAddr != "" {
		// A listener of its own keeps /metrics off the public address.
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("listen on %s for metrics: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: srv.ErrorLog}
		servers = append(servers, msrv)
		log.Info("metrics listening", "addr", mln.Addr().String())
		go func() { errc <- msrv.Serve(mln) }()
	}
	select {
	case err := <-errc:
		for _, s := range servers {
			_ = s.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	for range servers {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	// No request runs any more: write the activity events still queued.
	if err := handler.Close(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
