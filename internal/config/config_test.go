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
