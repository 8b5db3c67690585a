package cli

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// commandFlags names the flags each command reads (a trailing * matches a
// prefix), so that "authd user list -h" shows those and not every setting
// of the server. A command missing here is shown every flag. Every command
// accepts every flag, as every command reads the same environment.
var commandFlags = map[string][]string{
	"migrate":        {"database-url"},
	"user add":       {"database-url", "bcrypt-cost"},
	"user passwd":    {"database-url", "bcrypt-cost", "redis-*", "session-*", "cookie-host-prefix", "activity-retention"},
	"user list":      {"database-url"},
	"user groups":    {"database-url"},
	"user mfa":       {"database-url", "secret-key", "redis-*", "session-*", "cookie-host-prefix", "activity-retention"},
	"group add":      {"database-url"},
	"group list":     {"database-url"},
	"session list":   {"database-url", "redis-*", "session-*", "cookie-host-prefix"},
	"session revoke": {"database-url", "redis-*", "session-*", "cookie-host-prefix"},
	"rules explain":  {"database-url", "access-rules-file", "public-url", "cookie-*", "return-origins", "*-header", "groups-refresh-interval"},
}

// commandUsage is the synopsis line of each command.
var commandUsage = map[string]string{
	"serve":          "authd serve [flags]: run the web server (migrates the database first)",
	"migrate":        "authd migrate [flags]: apply pending database migrations and exit",
	"user add":       "authd user add NAME [flags]: create a user; the password is read from stdin",
	"user passwd":    "authd user passwd NAME [flags]: set a user's password (read from stdin) and end every session of that user",
	"user list":      "authd user list [flags]: list users",
	"user groups":    "authd user groups NAME [+GROUP|-GROUP ...] [flags]: show a user's groups, adding and removing some",
	"user mfa":       "authd user mfa [reset] NAME [flags]: show a user's second factors, or remove them all and end the user's sessions",
	"group add":      "authd group add NAME [flags]: create a group",
	"group list":     "authd group list [flags]: list groups and how many members each has",
	"session list":   "authd session list NAME [flags]: list a user's live sessions",
	"session revoke": "authd session revoke NAME ID|--all [flags]: end one session (ID from \"session list\") or all",
	"rules explain":  "authd rules explain URL USER [METHOD] [flags]: say what forward auth answers USER for URL",
}

// setUsage makes fs's -h output show the command's synopsis and the flags
// it reads.
func setUsage(fs *flag.FlagSet, name string) {
	fs.Usage = func() {
		w := fs.Output()
		if u, ok := commandUsage[name]; ok {
			fmt.Fprintf(w, "Usage: %s\n\n", u)
		} else {
			fmt.Fprintf(w, "Usage: authd %s [flags]\n\n", name)
		}
		patterns, some := commandFlags[name]
		fmt.Fprintln(w, "Flags (each can also be set in the environment variable named in its help):")
		fs.VisitAll(func(f *flag.Flag) {
			if some && !matchesAny(f.Name, append(patterns, "log-*")) {
				return
			}
			printFlag(w, f)
		})
		if some {
			fmt.Fprintln(w, "\nEvery other setting of \"authd serve -h\" is accepted too.")
		}
	}
}

func matchesAny(name string, patterns []string) bool {
	for _, p := range patterns {
		switch {
		case strings.HasSuffix(p, "*") && strings.HasPrefix(name, strings.TrimSuffix(p, "*")),
			strings.HasPrefix(p, "*") && strings.HasSuffix(name, strings.TrimPrefix(p, "*")),
			p == name:
			return true
		}
	}
	return false
}

func printFlag(w io.Writer, f *flag.Flag) {
	fmt.Fprintf(w, "  -%s value\n    \t%s\n", f.Name, f.Usage)
}

// suggest returns the candidate closest to s when it is a likely typo of
// it (at most two edits, or a prefix), or "".
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if len(s) >= 3 && strings.HasPrefix(c, s) {
			return c
		}
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// unknownCommand reports an unknown (sub)command with a suggestion.
func unknownCommand(env Env, what, got string, known []string) error {
	msg := fmt.Sprintf("authd: unknown %s %q", what, got)
	if s := suggest(got, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	fmt.Fprintf(env.Stderr, "%s\n\n%s", msg, usage)
	return errUsage
}

// missingSubcommand reports a command given without its subcommand.
func missingSubcommand(env Env, cmd string, known []string) error {
	fmt.Fprintf(env.Stderr, "authd %s: missing subcommand (one of: %s)\n\n%s", cmd, strings.Join(known, ", "), usage)
	return errUsage
}

// version prints the version of the module and the commit it was built
// from, as the Go toolchain recorded them in the binary.
func version(env Env) error {
	v, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	line := "authd " + v
	if rev != "" {
		line += " commit " + rev[:min(12, len(rev))]
		if dirty {
			line += " (modified)"
		}
	}
	fmt.Fprintf(env.Stdout, "%s %s %s/%s\n", line, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// checkSubcommand checks that args starts with one of cmd's subcommands.
func checkSubcommand(env Env, cmd string, args []string, known ...string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return missingSubcommand(env, cmd, known)
	}
	for _, k := range known {
		if args[0] == k {
			return nil
		}
	}
	return unknownCommand(env, "subcommand of "+cmd, args[0], known)
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// helpOf shows the help of a command whose positional arguments are
// missing because -h came first.
func helpOf(env Env, name string) error {
	_, err := loadConfig(Env{Args: nil, Getenv: func(string) string { return "" }, Stderr: env.Stderr}, name, []string{"-h"})
	return err
}
