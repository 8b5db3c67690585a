package cli

import (
	"context"
	"strings"
	"testing"
)

// TestCommandLineHelp tries the command line as a new user would: typos get
// a suggestion, a command without its subcommand says so, -h succeeds and
// shows only the flags the command reads, and there is a version.
func TestCommandLineHelp(t *testing.T) {
	t.Parallel()
	run := func(args ...string) (error, string, string) {
		var stdout, stderr strings.Builder
		err := Run(context.Background(), Env{Args: args, Getenv: func(string) string { return "" },
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
		return err, stdout.String(), stderr.String()
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serv"}, `unknown command "serv"; did you mean "serve"?`},
		{[]string{"sesion", "list"}, `did you mean "session"?`},
		{[]string{"user"}, "authd user: missing subcommand (one of: add, passwd, list, groups, mfa)"},
		{[]string{"user", "lst"}, `unknown subcommand of user "lst"; did you mean "list"?`},
		{[]string{"session"}, "authd session: missing subcommand (one of: list, revoke)"},
		{[]string{"session", "list"}, "authd session list: missing user name"},
		{[]string{"group"}, "authd group: missing subcommand (one of: add, list)"},
	} {
		err, _, stderr := run(tc.args...)
		if !IsUsage(err) || !strings.Contains(stderr, tc.want) {
			t.Errorf("authd %s: %v, stderr %q; want a usage error saying %q", strings.Join(tc.args, " "), err, firstLine(stderr), tc.want)
		}
	}

	for _, tc := range []struct {
		args         []string
		want, absent []string
	}{
		{[]string{"serve", "-h"}, []string{"Usage: authd serve", "-addr", "-tls-cert", "-redis-url"}, nil},
		{[]string{"user", "list", "-h"}, []string{"Usage: authd user list", "-database-url"}, []string{"-addr", "-tls-cert", "-redis-url"}},
		{[]string{"user", "add", "-h"}, []string{"Usage: authd user add NAME", "-bcrypt-cost"}, []string{"-addr", "-redis-url"}},
		{[]string{"session", "list", "-h"}, []string{"Usage: authd session list NAME", "-redis-url", "-database-url"}, []string{"-addr", "-tls-cert"}},
	} {
		err, _, stderr := run(tc.args...)
		if err != nil {
			t.Errorf("authd %s: %v, want success (exit 0)", strings.Join(tc.args, " "), err)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("authd %s: help lacks %q:\n%s", strings.Join(tc.args, " "), w, stderr)
			}
		}
		for _, a := range tc.absent {
			if strings.Contains(stderr, a+" ") {
				t.Errorf("authd %s: help lists %s, which the command does not read", strings.Join(tc.args, " "), a)
			}
		}
	}

	err, stdout, _ := run("version")
	if err != nil || !strings.HasPrefix(stdout, "authd ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("authd version: %v, %q", err, stdout)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	known := []string{"serve", "migrate", "user", "session"}
	for in, want := range map[string]string{"serv": "serve", "migrat": "migrate", "usr": "user", "sessoin": "session", "xyzzy": ""} {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
