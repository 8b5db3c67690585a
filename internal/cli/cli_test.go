package cli

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sessionauth/authd/internal/testenv"
)

// TestServeWholeProgram runs the real program in-process: "user add" with the
// password on stdin, then "serve" on a free port, a sign-in over HTTP, and a
// graceful shutdown when the context ends.
func TestServeWholeProgram(t *testing.T) {
	r := testenv.StartRedis(t)
	env := map[string]string{
		"DATABASE_URL": testenv.SQLiteURL(t),
		"REDIS_URL":    r.URL,
		"BCRYPT_COST":  "10",
		"LISTEN_ADDR":  "127.0.0.1:0",
		"METRICS_ADDR": testenv.FreeAddr(t),
	}
	p := newProgram(t, env)
	p.addUser("alice", "correct horse")
	base, stop := p.serve()

	c := signIn(t, base, "alice", "correct horse")

	// Metrics are served on their own address only.
	resp, err := http.Get("http://" + env["METRICS_ADDR"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(scrape), `authd_signins_total{outcome="success"} 1`) {
		t.Errorf("metrics listener scrape lacks the sign-in:\n%s", scrape)
	}
	if resp, err := c.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the main address: %v %v, want 404", resp.StatusCode, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after shutdown, want nil", err)
	}
}

func TestUsageAndConfigErrors(t *testing.T) {
	run := func(args []string, env map[string]string) (error, string) {
		var stderr strings.Builder
		err := Run(context.Background(), Env{Args: args, Getenv: func(k string) string { return env[k] },
			Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr})
		if err != nil {
			return err, err.Error() + stderr.String()
		}
		return nil, stderr.String()
	}
	if err, _ := run(nil, nil); !IsUsage(err) {
		t.Fatalf("no arguments: %v, want a usage error", err)
	}
	if err, _ := run([]string{"frobnicate"}, nil); !IsUsage(err) {
		t.Fatalf("unknown command: %v", err)
	}
	err, msg := run([]string{"serve"}, map[string]string{"BCRYPT_COST": "4", "REDIS_URL": "http://x", "SESSION_LIFETIME": "soon"})
	for _, want := range []string{"BCRYPT_COST", "REDIS_URL", "SESSION_LIFETIME"} {
		if err == nil || !strings.Contains(msg, want) {
			t.Errorf("bad configuration: error %q does not name %s", msg, want)
		}
	}
}

// A Redis that answers with an error (here: no database 99) is a setting to
// fix, not an outage to ride out: serve stops at once and says which.
func TestServeRefusesARedisThatRefuses(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	u := strings.TrimSuffix(r.URL, "/0") + "/99"
	var stderr strings.Builder
	err := Run(context.Background(), Env{Args: []string{"serve"}, Getenv: func(k string) string {
		return map[string]string{"DATABASE_URL": testenv.SQLiteURL(t), "REDIS_URL": u, "LISTEN_ADDR": "127.0.0.1:0"}[k]
	}, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr})
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") || !strings.Contains(err.Error(), "DB index is out of range") {
		t.Fatalf("serve with REDIS_URL=%s: %v, want a start-up error naming REDIS_URL and the reason", u, err)
	}
}
