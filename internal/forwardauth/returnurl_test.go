package forwardauth_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/forwardauth"
	"github.com/sessionauth/authd/internal/group"
	"github.com/sessionauth/authd/internal/testenv"
)

// testDB is a fresh, migrated SQLite database.
func testDB(t *testing.T) *sql.DB {
	t.Helper()
	db, d, err := database.Open(context.Background(), testenv.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := database.Migrate(context.Background(), db, d); err != nil {
		t.Fatal(err)
	}
	return db
}

func newGuard(t *testing.T, cfg forwardauth.Config) *forwardauth.Guard {
	t.Helper()
	g, err := forwardauth.New(cfg, group.NewStore(testDB(t)))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// F2: a sign-in returns only to the cookie domain, hosts below it, authd's
// own origin and the configured extras; anything else is refused, however
// it is dressed up.
func TestReturnTargetOpenRedirects(t *testing.T) {
	g := newGuard(t, forwardauth.Config{
		PublicURL:     "https://auth.example.test",
		CookieDomain:  "example.test",
		CookieSecure:  true,
		ReturnOrigins: []string{"https://wiki.partner.example", "https://*.tools.example"},
	})
	allowed := map[string]string{
		"https://example.test/":                "https://example.test/",
		"https://app1.example.test":            "https://app1.example.test",
		"https://app1.example.test/wiki?a=1#x": "https://app1.example.test/wiki?a=1#x",
		"https://a.b.example.test:8443/x":      "https://a.b.example.test:8443/x",
		"https://auth.example.test/account":    "https://auth.example.test/account",
		"https://wiki.partner.example/page":    "https://wiki.partner.example/page",
		"https://x.tools.example/":             "https://x.tools.example/",
		// The same host in another case is the same host: normalised.
		"HTTPS://App1.Example.TEST/Wiki": "https://app1.example.test/Wiki",
		// Encoded characters in the path are the app's business.
		"https://app1.example.test/a%2Fb%40c": "https://app1.example.test/a%2Fb%40c",
	}
	for in, want := range allowed {
		if got, ok := g.ReturnTarget(in); !ok || got != want {
			t.Errorf("ReturnTarget(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	refused := []string{
		"",
		"//evil.example",
		"///evil.example",
		"https://evil.example",
		"https://evil.example/https://app1.example.test",
		"https://example.test.evil.example",
		"https://app1.example.test.evil.example/",
		"https://evilexample.test",
		"https://xexample.test",
		// Userinfo: the browser goes to the host after the @.
		"https://app1.example.test@evil.example",
		"https://app1.example.test:443@evil.example/",
		"https://user:pw@app1.example.test/",
		"https://evil.example#@app1.example.test",
		"https://evil.example?@app1.example.test",
		// Mixed case does not smuggle anything past.
		"HTTPS://EVIL.EXAMPLE/",
		"hTtPs://Example.Test.Evil.Example",
		"JavaScript:alert(1)",
		"javascript://app1.example.test/%0aalert(1)",
		// Backslashes, which browsers read as slashes.
		`https://evil.example\.example.test`,
		`https:\\evil.example`,
		`https:/\evil.example`,
		`/\evil.example`,
		`https://app1.example.test\@evil.example`,
		// Encoded characters in the authority.
		"https://evil.example%2eexample.test",
		"https://app1.example.test%2f@evil.example",
		"https://app1%2eexample.test",
		"https://%65vil.example",
		// Whitespace and control characters, which browsers strip.
		"https://evil.example\t.example.test",
		"https://app1.example.test\n.evil.example",
		" https://app1.example.test/",
		"https://app1.example.test /",
		"\x00https://app1.example.test/",
		// Non-ASCII look-alikes.
		"https://app1.example.tеst/",
		"https://ａpp1.example.test/",
		// Other schemes, and a plain http when the cookie is Secure.
		"http://app1.example.test/",
		"ftp://app1.example.test/",
		"data:text/html,hi",
		"https:app1.example.test",
		"https:/app1.example.test",
		// The extras allow their own scheme and host only.
		"http://wiki.partner.example/",
		"https://other.partner.example/",
		"https://tools.example/",
		// Malformed ports and hosts.
		"https://app1.example.test:99999/",
		"https://app1.example.test:-1/",
		"https://app1.example.test:/",
		"https://app1..example.test/",
		"https://[::1]/",
		// Local paths are for next=, not here.
		"/account",
		strings.Repeat("https://app1.example.test/"+strings.Repeat("a", 100), 50),
	}
	for _, in := range refused {
		if got, ok := g.ReturnTarget(in); ok {
			t.Errorf("ReturnTarget(%q) = %q, allowed; want refused", in, got)
		}
	}
}

// Without a Secure cookie both schemes of the cookie domain are allowed;
// without a cookie domain only authd's own origin is.
func TestReturnTargetDefaults(t *testing.T) {
	g := newGuard(t, forwardauth.Config{CookieDomain: ".example.test"})
	for _, in := range []string{"http://app1.example.test/", "https://app1.example.test/"} {
		if _, ok := g.ReturnTarget(in); !ok {
			t.Errorf("ReturnTarget(%q) refused with a non-Secure cookie", in)
		}
	}
	g = newGuard(t, forwardauth.Config{PublicURL: "http://auth.example.test:8080"})
	if _, ok := g.ReturnTarget("http://auth.example.test:8080/account"); !ok {
		t.Error("authd's own origin refused")
	}
	for _, in := range []string{"http://app1.example.test/", "https://auth.example.test/"} {
		if _, ok := g.ReturnTarget(in); ok {
			t.Errorf("ReturnTarget(%q) allowed without a cookie domain", in)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	db := group.NewStore(testDB(t))
	for name, cfg := range map[string]forwardauth.Config{
		"public URL with a path":  {PublicURL: "https://auth.example.test/authd"},
		"public URL without host": {PublicURL: "https:///"},
		"public URL scheme":       {PublicURL: "ftp://auth.example.test"},
		"public URL user":         {PublicURL: "https://u@auth.example.test"},
		"return origin path":      {ReturnOrigins: []string{"https://a.example/x"}},
		"return origin scheme":    {ReturnOrigins: []string{"a.example"}},
		"return origin port":      {ReturnOrigins: []string{"https://a.example:8443"}},
		"header name":             {Headers: forwardauth.Headers{User: "Remote User"}},
		"header twice":            {Headers: forwardauth.Headers{User: "X-User", Name: "x-user"}},
	} {
		if _, err := forwardauth.New(cfg, db); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
