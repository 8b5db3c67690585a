// Package cli is the authd command line: it parses arguments, builds the
// dependencies and runs one subcommand. main only calls Run, so tests can run
// the whole program, server included, in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/sessionauth/authd/internal/config"
)

// Env is what a command may use of the outside world.
type Env struct {
	Args   []string // without the program name
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

const usage = `authd: sign-in with server-side sessions in Redis.

Usage:
  authd serve [flags]          run the web server (migrates the database first)
  authd migrate [flags]        apply pending database migrations and exit
  authd user add NAME          create a user; the password is read from stdin
  authd user passwd NAME       set a user's password (read from stdin) and end
                               every session of that user
  authd user list              list users
  authd user mfa NAME          show a user's second factors
  authd user mfa reset NAME    remove them all and end the user's sessions
  authd session list NAME      list a user's live sessions
  authd session revoke NAME ID end one session (ID from "session list")
  authd session revoke NAME --all
                               end every session of a user
  authd group add NAME         create a group (for access rules: "group:NAME")
  authd group list             list groups and how many members each has
  authd user groups NAME [+GROUP|-GROUP ...]
                               show a user's groups, adding and removing some
  authd rules check FILE       validate an access rules file
  authd rules explain URL USER [METHOD]
                               say what forward auth answers USER ("-": signed
                               out) for URL, with ACCESS_RULES_FILE
  authd token keys list        list the JWT signing keys
  authd token keys rotate      add a new signing key; the previous one stays
                               published until its tokens have expired
  authd token client-secret ID make a secret for a resource server (for
                               /oauth/introspect) and its RESOURCE_SERVERS entry

  authd version                print the version and the commit it was built from

Every flag can also be set in the environment; run "authd serve -h" to see
them, and "authd COMMAND -h" for the ones a command reads.
`

// errUsage marks a command line that could not be understood.
var errUsage = errors.New("usage")

// Run runs the command named by env.Args until it ends or ctx is cancelled.
func Run(ctx context.Context, env Env) error {
	if len(env.Args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return errUsage
	}
	err := run(ctx, env)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h asked for the help, which was shown
	}
	return err
}

func run(ctx context.Context, env Env) error {
	cmd, args := env.Args[0], env.Args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, env, args)
	case "migrate":
		return migrate(ctx, env, args)
	case "user":
		return userCommand(ctx, env, args)
	case "session":
		return sessionCommand(ctx, env, args)
	case "group":
		return groupCommand(ctx, env, args)
	case "rules":
		return rulesCommand(ctx, env, args)
	case "version", "-version", "--version":
		return version(env)
	case "token":
		return tokenCommand(ctx, env, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	return unknownCommand(env, "command", cmd, []string{"serve", "migrate", "user", "session", "group", "rules", "token", "version", "help"})
}

// loadConfig parses the flags and environment for the named subcommand.
func loadConfig(env Env, name string, args []string) (config.Config, error) {
	fs := flag.NewFlagSet("authd "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	setUsage(fs, name)
	cfg, err := config.Load(fs, args, env.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, err
	}
	if err != nil {
		return cfg, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, nil
}

// newLogger returns the structured logger all output goes through.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// IsUsage reports whether err came from a command line that could not be
// understood (the caller exits with status 2, as flag does).
func IsUsage(err error) bool {
	return errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp)
}
