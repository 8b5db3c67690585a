package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/testenv"
)

// A change of the rules file applies on SIGHUP, and on restart; a file
// with problems is refused both ways: on SIGHUP the rules in force stay,
// and a start with it stops, naming the line.
func TestForwardAuthRulesReload(t *testing.T) {
	t.Parallel()
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(rules, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const app1Only = "rules:\n  - domain: app1.example.com\n    policy: signed_in\n"
	const app2Only = "rules:\n  - domain: app2.example.com\n    policy: signed_in\n"
	const broken = "rules:\n  - domain: app1.example.com\n    policy: signed-in\n"
	write(app1Only)
	settings := map[string]string{
		"DATABASE_URL":      "sqlite:" + filepath.Join(t.TempDir(), "authd.db"),
		"REDIS_URL":         testenv.StartRedis(t).URL,
		"ACCESS_RULES_FILE": rules,
	}
	addUser(t, settings, userName, userPassword)
	p := startAuthd(t, settings)
	c := noRedirects()
	token := signIn(t, c, p.URL, userName, userPassword)
	ask := func(p *authd, host string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, p.URL+"/auth/request", nil)
		req.Header.Set("X-Original-URL", "https://"+host+"/")
		req.Header.Set("X-Original-Method", "GET")
		req.AddCookie(&http.Cookie{Name: "session_id", Value: token})
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if a1, a2 := ask(p, "app1.example.com"), ask(p, "app2.example.com"); a1 != 200 || a2 != 403 {
		t.Fatalf("with the first rules: app1 %d, app2 %d; want 200, 403", a1, a2)
	}

	// SIGHUP: the new file applies. The reload runs beside the requests,
	// so the test waits for its log line.
	write(app2Only)
	p.signal(t, syscall.SIGHUP)
	waitLog(t, p, `msg="access rules reloaded"`, 1)
	if a1, a2 := ask(p, "app1.example.com"), ask(p, "app2.example.com"); a1 != 403 || a2 != 200 {
		t.Fatalf("after SIGHUP: app1 %d, app2 %d; want 403, 200", a1, a2)
	}

	// A broken file on SIGHUP is refused, and the rules in force stay.
	write(broken)
	p.signal(t, syscall.SIGHUP)
	waitLog(t, p, `msg="access rules not reloaded; the previous ones stay in force"`, 1)
	if !strings.Contains(p.logs.String(), `line 3: unknown policy \"signed-in\"`) {
		t.Errorf("the refused reload does not say what is wrong where:\n%s", p.logs.String())
	}
	if a1, a2 := ask(p, "app1.example.com"), ask(p, "app2.example.com"); a1 != 403 || a2 != 200 {
		t.Fatalf("after a refused reload: app1 %d, app2 %d; want 403, 200", a1, a2)
	}

	// A restart with the broken file stops at once, naming the line...
	p.signal(t, syscall.SIGTERM)
	<-p.exited
	cmd := exec.Command(authdBin, "serve", "-addr", "127.0.0.1:0")
	cmd.Env = authdEnv(settings)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ACCESS_RULES_FILE") || !strings.Contains(string(out), `line 3: unknown policy "signed-in"`) {
		t.Fatalf("serve with a broken rules file: %v\n%s", err, out)
	}
	// ...and a restart with a fixed file applies it; the session lives on
	// in Redis.
	write(app1Only)
	p = startAuthd(t, settings)
	if a1, a2 := ask(p, "app1.example.com"), ask(p, "app2.example.com"); a1 != 200 || a2 != 403 {
		t.Fatalf("after a restart: app1 %d, app2 %d; want 200, 403", a1, a2)
	}
}

// waitLog waits until the process's log holds line at least n times.
func waitLog(t *testing.T, p *authd, line string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(p.logs.String(), line) < n {
		if time.Now().After(deadline) {
			t.Fatalf("authd did not log %s within 20s:\n%s", line, p.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
