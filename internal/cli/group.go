package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sessionauth/authd/internal/config"
	"github.com/sessionauth/authd/internal/group"
	"github.com/sessionauth/authd/internal/user"
)

// groupCommand runs "group add NAME" and "group list".
func groupCommand(ctx context.Context, env Env, args []string) error {
	if err := checkSubcommand(env, "group", args, "add", "list"); err != nil {
		return err
	}
	sub, rest := args[0], args[1:]
	name := ""
	if sub == "add" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintln(env.Stderr, "authd group add: missing group name")
			return errUsage
		}
		name, rest = rest[0], rest[1:]
	}
	cfg, err := loadConfig(env, "group "+sub, rest)
	if err != nil {
		return err
	}
	db, _, _, err := openDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	groups := group.NewStore(db)
	if sub == "add" {
		g, err := groups.Create(ctx, name)
		if errors.Is(err, group.ErrDuplicate) {
			return fmt.Errorf("a group %q exists already", strings.ToLower(strings.TrimSpace(name)))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "created group %q\n", g.Name)
		return nil
	}
	list, err := groups.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMEMBERS\tCREATED")
	for _, g := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", g.Name, g.Members, g.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// userGroups runs "user groups NAME [+GROUP|-GROUP ...] [flags]": it shows
// the user's groups, after adding and removing those named. An argument
// "-x" is a flag when x is a configuration flag, and a removal otherwise.
func userGroups(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(env.Stderr, "authd user groups: missing user name")
		return errUsage
	}
	name, rest := args[0], args[1:]
	flags := configFlags()
	var add, remove []string
	for len(rest) > 0 {
		a := rest[0]
		g, isFlag := "", false
		switch {
		case strings.HasPrefix(a, "+"):
			add, g = append(add, a[1:]), a[1:]
		case strings.HasPrefix(a, "-"):
			f, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if isFlag = flags[f]; !isFlag {
				remove, g = append(remove, a[1:]), a[1:]
			}
		default:
			fmt.Fprintf(env.Stderr, "authd user groups: %q: write +GROUP to add or -GROUP to remove\n", a)
			return errUsage
		}
		if isFlag {
			break
		}
		if g == "" {
			fmt.Fprintln(env.Stderr, "authd user groups: + and - need a group name")
			return errUsage
		}
		rest = rest[1:]
	}
	cfg, err := loadConfig(env, "user groups", rest)
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
	names, err := group.NewStore(db).Change(ctx, u.ID, add, remove)
	if errors.Is(err, group.ErrNotFound) {
		return fmt.Errorf("no such group: %w (create it with \"authd group add\")", err)
	}
	if err != nil {
		return err
	}
	if len(add)+len(remove) > 0 {
		log := newLogger(cfg, env.Stderr)
		log.Info("audit", "event", "groups_change", "outcome", "success", "user_id", u.ID, "client", "cli",
			"added", strings.Join(add, ","), "removed", strings.Join(remove, ","))
	}
	fmt.Fprintf(env.Stdout, "%s: %s\n", u.Name, orNone(strings.Join(names, ", ")))
	return nil
}

// configFlags returns the names of the configuration flags.
func configFlags() map[string]bool {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	_, _ = config.Load(fs, nil, func(string) string { return "" }) // only registers the flags here
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}
