package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionauth/authd/internal/testenv"
)

const cliRules = `rules:
  - domain: public.example.com
    policy: bypass
  - domain: app1.example.com
    path_prefix: /admin
    subject: group:admins
    policy: signed_in
  - domain: app1.example.com
    path_prefix: /admin
    policy: deny
  - domain: app1.example.com
    methods: [DELETE]
    policy: deny
  - domain: "*.example.com"
    policy: signed_in
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRulesCheck(t *testing.T) {
	p := newProgram(t, map[string]string{})
	good := writeFile(t, "rules.yaml", cliRules)
	out, err := p.run("", "rules", "check", good)
	if err != nil || out != good+": OK, 5 rule(s), default policy deny\n" {
		t.Fatalf("rules check of a good file: %q, %v", out, err)
	}
	bad := writeFile(t, "bad.yaml", "rules:\n  - domain: app1.example.com\n    policy: two_factors\n  - domain: x\n    policy: maybe\n")
	_, err = p.run("", "rules", "check", bad)
	if err == nil {
		t.Fatal("rules check accepted a bad file")
	}
	for _, want := range []string{bad + ": 2 problem(s)", `line 3: unknown policy "two_factors"`, `line 5: unknown policy "maybe"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("rules check error lacks %q:\n%v", want, err)
		}
	}
	if _, err := p.run("", "rules", "check"); !IsUsage(err) {
		t.Errorf("rules check without a file: %v, want a usage error", err)
	}
	if _, err := p.run("", "rules", "check", filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("rules check of a missing file: %v", err)
	}
}

// A start with a bad rules file stops, naming each problem and its line.
func TestServeRefusesBadRules(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "rules:\n  - domain: app1.example.com\n    path_regex: '('\n    policy: signed_in\n")
	p := newProgram(t, map[string]string{
		"DATABASE_URL": testenv.SQLiteURL(t), "REDIS_URL": "redis://127.0.0.1:1/0", "LISTEN_ADDR": "127.0.0.1:0",
		"ACCESS_RULES_FILE": bad,
	})
	_, err := p.run("", "serve")
	if err == nil || !strings.Contains(err.Error(), "ACCESS_RULES_FILE") || !strings.Contains(err.Error(), `line 3: path_regex "("`) {
		t.Fatalf("serve with a bad rules file: %v", err)
	}
}

func TestGroupsAndExplain(t *testing.T) {
	p := newProgram(t, map[string]string{
		"DATABASE_URL": testenv.SQLiteURL(t), "BCRYPT_COST": "10",
		"ACCESS_RULES_FILE": writeFile(t, "rules.yaml", cliRules),
	})
	p.addUser("alice", "password one")
	p.addUser("bob", "password two")
	for _, g := range []string{"admins", "Ops"} {
		if out, err := p.run("", "group", "add", g); err != nil || !strings.Contains(out, "created group") {
			t.Fatalf("group add %s: %q, %v", g, out, err)
		}
	}
	if _, err := p.run("", "group", "add", "ADMINS"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("group add of a taken name: %v", err)
	}
	if _, err := p.run("", "group", "add", "bad,name"); err == nil || !strings.Contains(err.Error(), "invalid group name") {
		t.Fatalf("group add of a bad name: %v", err)
	}

	// "+g" adds, "-g" removes, "-database-url" stays a flag.
	out, err := p.run("", "user", "groups", "bob", "+admins", "+ops", "-database-url", p.env["DATABASE_URL"])
	if err != nil || out != "bob: admins, ops\n" {
		t.Fatalf("user groups bob +admins +ops: %q, %v", out, err)
	}
	if out, err = p.run("", "user", "groups", "bob", "-ops"); err != nil || out != "bob: admins\n" {
		t.Fatalf("user groups bob -ops: %q, %v", out, err)
	}
	if out, err = p.run("", "user", "groups", "alice"); err != nil || out != "alice: none\n" {
		t.Fatalf("user groups alice: %q, %v", out, err)
	}
	if _, err = p.run("", "user", "groups", "alice", "+nosuch"); err == nil || !strings.Contains(err.Error(), "group add") {
		t.Fatalf("user groups +nosuch: %v", err)
	}
	if _, err = p.run("", "user", "groups", "nobody", "+admins"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("user groups of an unknown user: %v", err)
	}
	if _, err = p.run("", "user", "groups", "alice", "admins"); !IsUsage(err) {
		t.Fatalf("user groups without + or -: %v, want a usage error", err)
	}
	out, err = p.run("", "group", "list")
	if err != nil || !strings.Contains(out, "admins  1") || !strings.Contains(out, "ops     0") {
		t.Fatalf("group list:\n%s%v", out, err)
	}

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"http://app1.example.com/admin/users", "bob"},
			[]string{"GET http://app1.example.com/admin/users as bob (groups: admins)", "line 4 decides", "answer: 200"}},
		{[]string{"http://app1.example.com/admin/users", "alice"},
			[]string{"as alice (groups: none)", "line 8 decides: domain app1.example.com; path_prefix /admin → deny", "answer: 403"}},
		{[]string{"http://app1.example.com/wiki", "alice", "delete"},
			[]string{"DELETE http://app1.example.com/wiki", "line 11 decides", "answer: 403"}},
		{[]string{"http://app1.example.com/wiki", "-"},
			[]string{"as signed out", "line 14 decides", "answer: 401"}},
		{[]string{"https://public.example.com/", "-"},
			[]string{"line 2 decides", "bypass", "answer: 200"}},
		{[]string{"https://intranet.example.org/", "alice"},
			[]string{"no rule of", "default policy deny", "answer: 403"}},
	} {
		out, err := p.run("", append([]string{"rules", "explain"}, tc.args...)...)
		if err != nil {
			t.Fatalf("rules explain %v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("rules explain %v lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	if _, err := p.run("", "rules", "explain", "http://app1.example.com/../admin", "alice"); err == nil || !strings.Contains(err.Error(), "dot segment") {
		t.Fatalf("rules explain of an ambiguous path: %v", err)
	}
	if _, err := p.run("", "rules", "explain", "http://app1.example.com/"); !IsUsage(err) {
		t.Fatalf("rules explain without a user: %v", err)
	}
}
