// Package loadtest is authbench: it runs the real authd binary against a
// private redis-server, drives it over HTTP with a load generator written
// with net/http, and reports each scenario against its target in one
// Markdown table.
//
// The scenarios:
//
//  1. public page (GET /healthz, no session lookup): the baseline;
//  2. protected page (GET /api/me) spread over many distinct sessions;
//  3. sign-in over HTTP against raw bcrypt at the same cost;
//  4. Redis commands per request of scenario 2, from INFO commandstats;
//  5. Redis memory per session, from INFO memory;
//  6. protected-page latency, calm and under a wrong-password sign-in flood;
//  7. and 8. forward auth through nginx, and authd's verify alone;
//  9. the peer: the stock chi + scs + scs/redisstore stack (cmd/authbench/peer)
//     on the same Redis, its protected page, commands and memory per session.
//
// Sessions for 2, 4, 5 and 6 are minted in-process with the server's own
// internal/session code; signing in over HTTP would cost a bcrypt each.
package loadtest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sessionauth/authd/internal/config"
	"github.com/sessionauth/authd/internal/session"
)

// Fixed settings of the run.
const (
	keyPrefix     = "authd:session:"
	benchUser     = "bench"
	benchPassword = "a bench password"
)

// Run runs authbench with the command-line args (without the program name).
// Progress goes to stderr and the report to stdout. A missed target is not
// an error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	progress := func(format string, a ...any) {
		fmt.Fprintf(stderr, "authbench: "+format+"\n", a...)
	}
	// The server's own defaults for the session clocks, so that the minted
	// sessions and the server run on the same ones, and "at their defaults"
	// follows config when a default changes.
	defaults, err := config.Load(flag.NewFlagSet("defaults", flag.ContinueOnError), nil, func(string) string { return "" })
	if err != nil {
		return fmt.Errorf("authd's default configuration: %w", err)
	}

	tmp, err := os.MkdirTemp("", "authbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	progress("starting a private redis-server")
	rds, err := startRedis(ctx, opts.RedisServer, tmp)
	if err != nil {
		return err
	}
	defer rds.stop(5 * time.Second)

	bin := opts.Authd
	if bin == "" {
		progress("building ./cmd/authd")
		if bin, err = buildAuthd(ctx, tmp, stderr); err != nil {
			return err
		}
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	env := authdEnv(map[string]string{
		"REDIS_URL":                rds.URL,
		"REDIS_KEY_PREFIX":         keyPrefix,
		"DATABASE_URL":             "sqlite:" + filepath.Join(tmp, "bench.db"),
		"BCRYPT_COST":              strconv.Itoa(opts.Cost),
		"LOG_LEVEL":                "warn",
		"SESSION_LIFETIME":         defaults.SessionLifetime.String(),
		"SESSION_IDLE_TIMEOUT":     defaults.SessionIdleTimeout.String(),
		"SESSION_REFRESH_INTERVAL": defaults.SessionRefreshInterval.String(),
		// Failed-sign-in throttling, where the server has it, would turn
		// scenario 6's flood away cheaply; the flood must reach bcrypt.
		"THROTTLE_ACCOUNT_FAILURES": "0",
		"THROTTLE_ADDR_FAILURES":    "0",
		// Scenarios 7 and 8 ask forward auth, under a few rules.
		"ACCESS_RULES_FILE": filepath.Join(tmp, "rules.yaml"),
	})
	if err := os.WriteFile(filepath.Join(tmp, "rules.yaml"), []byte(benchRules), 0o600); err != nil {
		return err
	}
	progress("creating user %q (bcrypt cost %d)", benchUser, opts.Cost)
	if err := addUser(ctx, bin, env, benchUser, benchPassword); err != nil {
		return err
	}
	progress("starting %s serve", bin)
	srv, err := startAuthd(ctx, bin, env, tmp)
	if err != nil {
		return err
	}
	defer srv.stop(20 * time.Second)

	pool := rds.pool(opts.MintWorkers + 2)
	defer pool.Close()
	mint, err := newMinter(pool, session.Config{
		Lifetime:        defaults.SessionLifetime,
		IdleTimeout:     defaults.SessionIdleTimeout,
		RefreshInterval: defaults.SessionRefreshInterval,
		KeyPrefix:       keyPrefix,
	})
	if err != nil {
		return err
	}
	b := &bench{
		opts:     opts,
		base:     srv.URL,
		client:   newClient(opts.Workers),
		pool:     pool,
		procs:    Procs{Authd: srv.pid(), Redis: rds.pid(), Self: os.Getpid()},
		minter:   mint,
		progress: progress,
		stderr:   stderr,
	}
	rep := &Report{
		Opts:            opts,
		CPUModel:        cpuModel(),
		NumCPU:          runtime.NumCPU(),
		GOMAXPROCS:      runtime.GOMAXPROCS(0),
		GoVersion:       runtime.Version(),
		IdleTimeout:     defaults.SessionIdleTimeout,
		RefreshInterval: defaults.SessionRefreshInterval,
	}
	if rep.RedisVersion, err = redisVersion(ctx, pool); err != nil {
		return err
	}
	if opts.runs(7) {
		nginxBin, err := findNginx(opts.Nginx)
		if err != nil {
			return err
		}
		app, stopApp, err := startApp()
		if err != nil {
			return err
		}
		defer stopApp()
		progress("starting %s in front of an app, with and without auth_request", nginxBin)
		if b.nginx, err = startBenchNginx(ctx, nginxBin, tmp, strings.TrimPrefix(srv.URL, "http://"), app); err != nil {
			return err
		}
		defer b.nginx.stopNginx()
		b.procs.Nginx = b.nginx.pid()
	}
	if opts.runs(9) {
		progress("starting the peer (chi + scs + scs/redisstore) on the same Redis")
		if b.peer, err = startPeer(ctx, opts, rds.URL, defaults.Redis.MaxActive, defaults.Redis.MaxIdle, tmp, b); err != nil {
			return err
		}
		defer b.peer.srv.stop(10 * time.Second)
	}
	err = b.run(ctx, rep)
	// Whatever ran is worth printing, even after an error.
	rep.Write(stdout)
	if err != nil {
		return err
	}
	select {
	case <-srv.done:
		return fmt.Errorf("authd exited during the run; its log:\n%s", tail(srv.log, 20))
	default:
	}
	reportLog(srv.log, progress)
	return nil
}

// reportLog summarises authd's log (warnings and errors only). Flood
// sign-ins still queued for bcrypt when scenario 6 ends are cancelled by
// the client, and authd logs each; those are expected and only counted.
func reportLog(path string, progress func(string, ...any)) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var cancelled int
	var other []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, "waiting for a hashing slot: context canceled") {
			cancelled++
		} else {
			other = append(other, "  "+strings.TrimRight(line, "\n"))
		}
	}
	if cancelled > 0 {
		progress("authd logged %d flood sign-in(s) cancelled while waiting for bcrypt at the end of scenario 6 (expected)", cancelled)
	}
	if len(other) > 0 {
		progress("authd logged %d other line(s) at warn or above; the last ones:\n%s", len(other), strings.Join(other[max(0, len(other)-5):], "\n"))
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	return CPUModel(string(b))
}
