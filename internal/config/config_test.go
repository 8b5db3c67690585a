package config

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func load(args []string, env map[string]string) (Config, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	c, err := load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionLifetime != 12*time.Hour || c.SessionIdleTimeout != 30*time.Minute || c.BcryptCost != 12 ||
		c.RedisURL != "redis://127.0.0.1:6379/0" || c.DatabaseURL != "sqlite:authd.db" || !c.SignupEnabled || c.CookieSecure {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	env := map[string]string{"BCRYPT_COST": "abc", "SESSION_IDLE_TIMEOUT": "5m"}
	c, err := load([]string{"-bcrypt-cost", "11", "-session-idle-timeout", "10m"}, env)
	if err != nil {
		t.Fatalf("a flag must override a bad environment value: %v", err)
	}
	if c.BcryptCost != 11 || c.SessionIdleTimeout != 10*time.Minute {
		t.Fatalf("got cost %d idle %v", c.BcryptCost, c.SessionIdleTimeout)
	}
}

func TestEveryProblemReportedAtOnce(t *testing.T) {
	_, err := load([]string{"-tls-cert", "c.pem"}, map[string]string{
		"BCRYPT_COST": "9", "REDIS_URL": "http://x", "SESSION_REFRESH_INTERVAL": "1h", "LOG_LEVEL": "bug",
	})
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"BCRYPT_COST", "REDIS_URL", "SESSION_REFRESH_INTERVAL", "LOG_LEVEL", "TLS_KEY_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

func TestTLSImpliesSecureCookie(t *testing.T) {
	c, err := load([]string{"-tls-cert", "c.pem", "-tls-key", "k.pem"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.CookieSecure {
		t.Fatal("serving TLS must mark the cookie Secure")
	}
}

// The README's configuration table lists every setting.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings() {
		if !strings.Contains(string(readme), "| `-"+s.flag+"` | `"+s.env+"` |") {
			t.Errorf("README.md's configuration table lacks -%s / %s", s.flag, s.env)
		}
	}
}

// HSTS is on by default when authd serves TLS itself, off otherwise, and 0
// turns it off either way; includeSubDomains and preload are separate.
func TestHSTSDefaults(t *testing.T) {
	tls := []string{"-tls-cert", "c.pem", "-tls-key", "k.pem"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"plain HTTP", nil, nil, 0},
		{"TLS", tls, nil, 63072000},
		{"TLS, turned off", tls, map[string]string{"HSTS_MAX_AGE": "0"}, 0},
		{"TLS, one day", tls, map[string]string{"HSTS_MAX_AGE": "86400"}, 86400},
		{"behind a TLS proxy, asked for", nil, map[string]string{"HSTS_MAX_AGE": "600", "COOKIE_SECURE": "true"}, 600},
	} {
		c, err := load(tc.args, tc.env)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.HSTSMaxAge != tc.want || c.HSTSIncludeSubdomains || c.HSTSPreload {
			t.Errorf("%s: HSTS max-age %d subdomains %v preload %v, want %d and neither", tc.name, c.HSTSMaxAge, c.HSTSIncludeSubdomains, c.HSTSPreload, tc.want)
		}
	}
	if _, err := load(tls, map[string]string{"HSTS_INCLUDE_SUBDOMAINS": "true", "HSTS_PRELOAD": "true"}); err != nil {
		t.Errorf("preload with subdomains and the default max-age refused: %v", err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HSTS_MAX_AGE": "-1"}, "HSTS_MAX_AGE"},
		{map[string]string{"HSTS_PRELOAD": "true", "HSTS_MAX_AGE": "31536000"}, "HSTS_PRELOAD needs HSTS_INCLUDE_SUBDOMAINS"},
		{map[string]string{"HSTS_PRELOAD": "true", "HSTS_INCLUDE_SUBDOMAINS": "true", "HSTS_MAX_AGE": "86400"}, "one year"},
		{map[string]string{"HSTS_INCLUDE_SUBDOMAINS": "true"}, "HSTS_INCLUDE_SUBDOMAINS needs HSTS"},
	} {
		if _, err := load(nil, tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.env, err, tc.want)
		}
	}
}

// COOKIE_HOST_PREFIX needs a Secure cookie and cannot go with COOKIE_DOMAIN,
// and the message names the trade-off.
func TestCookieHostPrefix(t *testing.T) {
	c, err := load(nil, map[string]string{"COOKIE_HOST_PREFIX": "true", "COOKIE_SECURE": "true"})
	if err != nil || c.CookiePrefix() != "__Host-" {
		t.Fatalf("prefix with a Secure cookie: %v, prefix %q", err, c.CookiePrefix())
	}
	if c, _ := load(nil, nil); c.CookiePrefix() != "" {
		t.Fatalf("default prefix %q", c.CookiePrefix())
	}
	_, err = load(nil, map[string]string{"COOKIE_HOST_PREFIX": "true", "COOKIE_SECURE": "true", "COOKIE_DOMAIN": "example.com"})
	if err == nil || !strings.Contains(err.Error(), "COOKIE_DOMAIN") || !strings.Contains(err.Error(), "single sign-on") {
		t.Errorf("prefix with a domain: %v, want a refusal that names the trade-off", err)
	}
	if _, err := load(nil, map[string]string{"COOKIE_HOST_PREFIX": "true"}); err == nil || !strings.Contains(err.Error(), "COOKIE_SECURE") {
		t.Errorf("prefix without Secure: %v", err)
	}
}

func TestSecretKeyChecked(t *testing.T) {
	if _, err := load(nil, map[string]string{"SECRET_KEY": "c2hvcnQ="}); err == nil || !strings.Contains(err.Error(), "SECRET_KEY") ||
		!strings.Contains(err.Error(), "at least 32") || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Errorf("short key: %v, want an error naming SECRET_KEY and the minimum, not the key", err)
	}
	if _, err := load(nil, map[string]string{"SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}); err != nil {
		t.Errorf("a 32-byte key refused: %v", err)
	}
}

// REDIS_URL=memory:// selects the embedded store; a near miss, or the
// embedded store with sentinels, is an error that says why.
func TestMemoryRedisURL(t *testing.T) {
	t.Parallel()
	if c, err := load(nil, map[string]string{"REDIS_URL": "memory://"}); err != nil || c.RedisURL != "memory://" {
		t.Fatalf("memory://: %v", err)
	}
	for env, want := range map[string]string{
		"memory://localhost": "write exactly memory://",
		"127.0.0.1:6391":     "for this address: redis://127.0.0.1:6391/0",
		"redis://h:1/abc":    "database number",
	} {
		if _, err := load(nil, map[string]string{"REDIS_URL": env}); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("REDIS_URL=%s: %v, want an error naming REDIS_URL with %q", env, err, want)
		}
	}
	_, err := load(nil, map[string]string{"REDIS_URL": "memory://", "REDIS_SENTINEL_ADDRS": "h:26379", "REDIS_SENTINEL_MASTER": "m"})
	if err == nil || !strings.Contains(err.Error(), "cannot be combined with REDIS_SENTINEL_ADDRS") {
		t.Errorf("memory:// with sentinels: %v", err)
	}
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a:1,b:2", "REDIS_SENTINEL_ADDRS": "h:26379", "REDIS_SENTINEL_MASTER": "m"}, "cannot be combined: a cluster fails over by itself"},
		{map[string]string{"REDIS_URL": "redis+cluster://a:1,b:2", "REDIS_SENTINEL_ADDRS": "h:26379", "REDIS_SENTINEL_MASTER": "m"}, "cannot be combined: a cluster fails over by itself"},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a:1,b"}, `REDIS_CLUSTER_ADDRS: cluster node "b": want host:port`},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a:1", "REDIS_URL": "redis://h:1/2"}, "only database 0"},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a:1", "REDIS_URL": "memory://"}, "cannot be combined with REDIS_CLUSTER_ADDRS"},
		{map[string]string{"REDIS_KEY_PREFIX": "app:{x}:"}, "REDIS_KEY_PREFIX must not contain { or }"},
	} {
		if _, err := load(nil, c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.env, err, c.want)
		}
	}
	if _, err := load(nil, map[string]string{"REDIS_CLUSTER_ADDRS": "a:1,b:2"}); err != nil {
		t.Errorf("REDIS_CLUSTER_ADDRS alone: %v", err)
	}
	if _, err := load(nil, map[string]string{"REDIS_CLUSTER_ADDRS": "a:1", "REDIS_URL": "redis://:secret@h:1/%zz"}); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a broken REDIS_URL with cluster nodes: %v, want an error that does not show the password", err)
	}
}
