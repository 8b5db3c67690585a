package access_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionauth/authd/internal/access"
)

const exampleRules = `# The example of the README.
default_policy: deny
rules:
  - domain: public.example.com
    policy: bypass
  - domain: app1.example.com
    path_prefix: /static/
    policy: bypass
  - domain: app1.example.com
    path_prefix: /admin
    subject: group:admins
    policy: signed_in
  - domain: app1.example.com
    path_prefix: /admin
    policy: deny
  - domain: "*.example.com"
    path_regex: '^/api/v[0-9]+/'
    methods: [POST, delete]
    subject: [user:Alice, group:writers]
    policy: signed_in
  - domain: "*.example.com"
    path_regex: '^/api/'
    methods: [POST, DELETE]
    policy: deny
  - domain: [app1.example.com, app2.example.com, "*.apps.example.com"]
    policy: signed_in
`

func mustParse(t *testing.T, src string) *access.Rules {
	t.Helper()
	rs, err := access.Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestDecide(t *testing.T) {
	rs := mustParse(t, exampleRules)
	alice := &access.Subject{Name: "alice", Groups: []string{}}
	bob := &access.Subject{Name: "bob", Groups: []string{"admins"}}
	carol := &access.Subject{Name: "carol", Groups: []string{"writers"}}
	type want struct {
		v    access.Verdict
		line int // 0: the default policy
	}
	for _, tc := range []struct {
		host, path, method string
		who                *access.Subject
		want               want
	}{
		// Bypass: everyone, signed in or not.
		{"public.example.com", "/", "GET", nil, want{access.Allowed, 4}},
		{"public.example.com", "/x", "POST", alice, want{access.Allowed, 4}},
		{"app1.example.com", "/static/app.css", "GET", nil, want{access.Allowed, 6}},
		// A bypass prefix matches whole segments only.
		{"app1.example.com", "/staticx", "GET", nil, want{access.SignInRequired, 25}},
		// Group-only path: the group's member, nobody else; signed out must sign in.
		{"app1.example.com", "/admin", "GET", bob, want{access.Allowed, 9}},
		{"app1.example.com", "/admin/users", "GET", bob, want{access.Allowed, 9}},
		{"app1.example.com", "/admin/users", "GET", alice, want{access.Forbidden, 13}},
		{"app1.example.com", "/admin", "GET", nil, want{access.SignInRequired, 9}},
		{"app1.example.com", "/administrator", "GET", alice, want{access.Allowed, 25}},
		// Methods and regexps; user subjects compare case-insensitively.
		{"app2.example.com", "/api/v2/items", "POST", alice, want{access.Allowed, 16}},
		{"app2.example.com", "/api/v2/items", "DELETE", carol, want{access.Allowed, 16}},
		{"app2.example.com", "/api/v2/items", "POST", bob, want{access.Forbidden, 21}},
		{"app2.example.com", "/api/v2/items", "GET", bob, want{access.Allowed, 25}},
		{"x.apps.example.com", "/api/items", "PUT", bob, want{access.Allowed, 25}},
		// Unlisted hosts get the default policy: deny (signed out: sign in first).
		{"example.com", "/", "GET", alice, want{access.Forbidden, 0}},
		{"other.test", "/", "GET", nil, want{access.SignInRequired, 0}},
		{"apps.example.com", "/", "GET", alice, want{access.Forbidden, 0}},
	} {
		d := rs.Decide(access.Resource{Host: tc.host, Path: tc.path, Method: tc.method}, tc.who)
		line := 0
		if d.Rule != nil {
			line = d.Rule.Line
		}
		if d.Verdict != tc.want.v || line != tc.want.line {
			name := "signed out"
			if tc.who != nil {
				name = tc.who.Name
			}
			t.Errorf("%s %s%s as %s: %s by line %d; want %s by line %d", tc.method, tc.host, tc.path, name, d.Verdict, line, tc.want.v, tc.want.line)
		}
	}
}

// Without a rules file every signed-in user may go everywhere, and a
// signed-out request must sign in.
func TestNoRulesFile(t *testing.T) {
	var rs *access.Rules
	res := access.Resource{Host: "anything.example", Path: "/", Method: "GET"}
	if d := rs.Decide(res, &access.Subject{Name: "alice"}); d.Verdict != access.Allowed {
		t.Fatalf("signed in without rules: %s, want allowed", d.Verdict)
	}
	if d := rs.Decide(res, nil); d.Verdict != access.SignInRequired {
		t.Fatalf("signed out without rules: %s, want sign-in required", d.Verdict)
	}
}

func TestDefaultPolicy(t *testing.T) {
	rs := mustParse(t, "default_policy: signed_in\nrules:\n")
	res := access.Resource{Host: "a.example", Path: "/", Method: "GET"}
	if d := rs.Decide(res, &access.Subject{Name: "alice"}); d.Verdict != access.Allowed {
		t.Fatalf("default signed_in: %s", d.Verdict)
	}
	if rs := mustParse(t, "rules: []\n"); rs.Default() != access.Deny {
		t.Fatalf("default policy without default_policy: %s, want deny", rs.Default())
	}
}

// Every problem is reported, each with its line and a reason.
func TestValidationErrors(t *testing.T) {
	src := `default_policy: allow
rules:
  - domain: app1.example.com
    polcy: bypass
  - domain: "app1.example.com:8080"
    path_prefix: admin
    policy: signed_in
  - domain: app2.example.com
    path_regex: '^/api/(unclosed'
    policy: two_factors
  - domain: app3.example.com
    subject: [admins, "group:bad name", "user:x"]
    methods: ["GET /"]
    policy: signed_in
  - path_prefix: /a/../b
    policy: deny
  - domain: []
    policy: signed_in
  - domain: "*.*.example.com"
    path_prefix: "/a%2fb"
    policy: bypass
  - domain: app4.example.com
    policy: signed_in
    policy: deny
`
	_, err := access.Parse("rules.yaml", []byte(src))
	var inv *access.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("Parse: %v, want an *InvalidError", err)
	}
	want := []struct {
		line int
		has  string
	}{
		{1, `unknown policy "allow"`},
		{4, `unknown key "polcy"`},
		{3, `no "policy"`},
		{5, `domain "app1.example.com:8080"`},
		{6, `path_prefix "admin": must start with /`},
		{9, `path_regex "^/api/(unclosed"`},
		{10, `unknown policy "two_factors"`},
		{12, `subject "admins" must be user:NAME or group:NAME`},
		{12, `subject "group:bad name"`},
		{12, `subject "user:x"`},
		{13, `method "GET /"`},
		{15, `path_prefix "/a/../b"`},
		{15, `no "domain"`},
		{17, "domain is an empty list"},
		{19, `domain "*.*.example.com"`},
		{20, `path_prefix "/a%2fb"`},
		{24, `"policy" given twice`},
	}
	if len(inv.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(inv.Problems), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, p := range inv.Problems {
			found = found || (p.Line == w.line && strings.Contains(p.Msg, w.has))
		}
		if !found {
			t.Errorf("no problem on line %d containing %q in:\n%v", w.line, w.has, err)
		}
	}
	if !strings.Contains(err.Error(), "rules.yaml: ") || !strings.Contains(err.Error(), "line 10: unknown policy") {
		t.Errorf("message does not name the file and lines:\n%v", err)
	}
}

func TestMalformedFiles(t *testing.T) {
	for name, src := range map[string]string{
		"empty":          "",
		"only a comment": "# nothing\n",
		"not yaml":       "rules: [unclosed\n",
		"a list":         "- domain: x\n",
		"no rules key":   "default_policy: deny\n",
		"rules a string": "rules: everything\n",
		"rule a string":  "rules:\n  - app1.example.com\n",
		"tabs":           "rules:\n\t- domain: x\n",
		"domain number":  "rules:\n  - domain: 42\n    policy: bypass\n",
	} {
		rs, err := access.Parse("rules.yaml", []byte(src))
		var inv *access.InvalidError
		if !errors.As(err, &inv) || rs != nil || len(inv.Problems) == 0 {
			t.Errorf("%s: Parse = %v, %v; want an *InvalidError", name, rs, err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(p, []byte(exampleRules), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := access.Load(p)
	if err != nil || rs.Len() != 7 || rs.Source != p {
		t.Fatalf("Load = %d rules from %q, %v; want 7 from %s", rs.Len(), rs.Source, err, p)
	}
	if _, err := access.Load(filepath.Join(dir, "missing.yaml")); err == nil || !os.IsNotExist(errors.Unwrap(err)) {
		t.Fatalf("Load(missing) = %v, want a not-exist error", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := access.Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load(big) = %v, want too large", err)
	}
}

// two_factor admits sessions that signed in with more than a password,
// refuses (403) password-only ones, and asks signed-out ones to sign in.
func TestTwoFactorPolicy(t *testing.T) {
	rs, err := access.Parse("rules.yaml", []byte("rules:\n  - domain: vault.example.com\n    policy: two_factor\n"))
	if err != nil {
		t.Fatal(err)
	}
	res := access.Resource{Host: "vault.example.com", Path: "/", Method: "GET"}
	for _, c := range []struct {
		who  *access.Subject
		want access.Verdict
	}{
		{nil, access.SignInRequired},
		{&access.Subject{Name: "alice"}, access.Forbidden},
		{&access.Subject{Name: "alice", TwoFactor: true}, access.Allowed},
	} {
		if got := rs.Decide(res, c.who).Verdict; got != c.want {
			t.Errorf("%+v: %v, want %v", c.who, got, c.want)
		}
	}
}
