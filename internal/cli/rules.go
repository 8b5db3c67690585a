package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sessionauth/authd/internal/access"
	"github.com/sessionauth/authd/internal/config"
	"github.com/sessionauth/authd/internal/forwardauth"
	"github.com/sessionauth/authd/internal/group"
	"github.com/sessionauth/authd/internal/user"
)

// newGuard builds forward authentication's guard and loads the rules file,
// if one is configured; a file with problems stops the start, naming each
// with its line.
func newGuard(cfg config.Config, groups *group.Store, log *slog.Logger) (*forwardauth.Guard, error) {
	g, err := forwardauth.New(forwardauth.Config{
		PublicURL:     cfg.PublicURL,
		CookieDomain:  cfg.CookieDomain,
		CookieSecure:  cfg.CookieSecure,
		ReturnOrigins: cfg.ReturnOrigins,
		Headers:       cfg.IdentityHeaders,
		GroupsTTL:     cfg.GroupsRefresh,
	}, groups)
	if err != nil {
		return nil, err
	}
	if cfg.AccessRulesFile == "" {
		log.Info("no ACCESS_RULES_FILE: forward auth lets every signed-in user reach every app")
		return g, nil
	}
	rs, err := access.Load(cfg.AccessRulesFile)
	if err != nil {
		return nil, fmt.Errorf("ACCESS_RULES_FILE: %w", err)
	}
	g.SetRules(rs)
	log.Info("access rules loaded", "file", cfg.AccessRulesFile, "rules", rs.Len(), "default_policy", rs.Default().String())
	return g, nil
}

// reloadRulesOnHUP reloads the rules file on SIGHUP until ctx ends. A file
// with problems is refused and logged; the rules in force stay.
func reloadRulesOnHUP(ctx context.Context, path string, g *forwardauth.Guard, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			rs, err := access.Load(path)
			if err != nil {
				log.Error("access rules not reloaded; the previous ones stay in force", "file", path, "err", err)
				continue
			}
			g.SetRules(rs)
			log.Info("access rules reloaded", "file", path, "rules", rs.Len(), "default_policy", rs.Default().String())
		}
	}()
}

// rulesCommand runs "rules check FILE" and "rules explain URL USER [METHOD]".
func rulesCommand(ctx context.Context, env Env, args []string) error {
	if err := checkSubcommand(env, "rules", args, "check", "explain"); err != nil {
		return err
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "check":
		if len(rest) != 1 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintln(env.Stderr, "authd rules check: name one rules file")
			return errUsage
		}
		rs, err := access.Load(rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s: OK, %d rule(s), default policy %s\n", rest[0], rs.Len(), rs.Default())
		return nil
	case "explain":
		return explain(ctx, env, rest)
	default:
		fmt.Fprintf(env.Stderr, "authd rules: unknown subcommand %q\n", sub)
		return errUsage
	}
}

// explain says what the verify endpoints would answer for a request to URL
// by USER ("-" for signed out), with the configured rules and the user's
// groups from the database.
func explain(ctx context.Context, env Env, args []string) error {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(env.Stderr, `authd rules explain: want URL USER [METHOD] (USER "-" for signed out)`)
		return errUsage
	}
	rawURL, userName, args := args[0], args[1], args[2:]
	method := http.MethodGet
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		method, args = args[0], args[1:]
	}
	cfg, err := loadConfig(env, "rules explain", args)
	if err != nil {
		return err
	}
	target, err := forwardauth.Parse(rawURL, method)
	if err != nil {
		return fmt.Errorf("%s: %w", rawURL, err)
	}
	var rs *access.Rules
	if cfg.AccessRulesFile != "" {
		if rs, err = access.Load(cfg.AccessRulesFile); err != nil {
			return err
		}
	}

	var who *access.Subject
	name := "signed out"
	if userName != "-" {
		db, _, _, err := openDatabase(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		u, err := user.NewStore(db).ByName(ctx, userName)
		if errors.Is(err, user.ErrNotFound) {
			return fmt.Errorf("no user named %q", userName)
		}
		if err != nil {
			return err
		}
		groups, err := group.NewStore(db).Of(ctx, u.ID)
		if err != nil {
			return err
		}
		who = &access.Subject{Name: u.Name, Groups: groups}
		name = fmt.Sprintf("%s (groups: %s)", u.Name, orNone(strings.Join(groups, ", ")))
	}

	d := rs.Decide(target.Resource, who)
	fmt.Fprintf(env.Stdout, "%s %s as %s\n", target.Method, target.URL(), name)
	switch {
	case rs == nil:
		fmt.Fprintln(env.Stdout, "no ACCESS_RULES_FILE: every signed-in user may reach every app")
	case d.Rule == nil:
		fmt.Fprintf(env.Stdout, "no rule of %s matches: default policy %s\n", rs.Source, rs.Default())
	default:
		fmt.Fprintf(env.Stdout, "rule at %s line %d decides: %s → %s\n", rs.Source, d.Rule.Line, d.Rule.Summary, d.Rule.Policy)
	}
	switch d.Verdict {
	case access.Allowed:
		fmt.Fprintln(env.Stdout, "answer: 200, allowed")
	case access.SignInRequired:
		fmt.Fprintln(env.Stdout, "answer: 401, sign-in required (browsers are sent to the sign-in page)")
	default:
		fmt.Fprintln(env.Stdout, "answer: 403, forbidden")
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
