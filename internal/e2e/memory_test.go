package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sessionauth/authd/internal/testenv"
)

// TestEmbeddedStore runs the binary with REDIS_URL=memory:// (what "make
// run" falls back to when no Redis is installed): sign-in, the session list
// and revocation through the command line, which must reach the server's
// embedded store, a password change, and throttling. A command or script the
// embedded store lacks fails here.
func TestEmbeddedStore(t *testing.T) {
	t.Parallel()
	dbURL := testenv.SQLiteURL(t)
	settings := map[string]string{
		"DATABASE_URL": dbURL, "REDIS_URL": "memory://",
		"THROTTLE_ACCOUNT_FAILURES": "3", "THROTTLE_ADDR_FAILURES": "100",
	}
	// The commands get the database only: the server file leads them to the
	// embedded store, as after "make run" in another terminal.
	cli := map[string]string{"DATABASE_URL": dbURL, "BCRYPT_COST": bcryptCost}
	addUser(t, cli, userName, userPassword)

	p := startAuthd(t, settings)
	if !strings.Contains(p.logs.String(), "Sessions live in memory (REDIS_URL=memory://): for development only") {
		t.Errorf("no warning about the embedded store in the log:\n%s", p.logs.String())
	}
	c := noRedirects()
	resp, err := c.Get(p.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct{ Status, Warning string }
	err = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if err != nil || ready.Status != "ok" || !strings.Contains(ready.Warning, "for development only") {
		t.Errorf("/readyz: %+v, %v; want ok with a warning about the embedded store", ready, err)
	}

	laptop := signIn(t, c, p.URL, userName, userPassword)
	phone := signIn(t, c, p.URL, userName, userPassword)
	for _, tok := range []string{laptop, phone} {
		if code, err := getMe(c, p.URL+"/api/me", tok); code != http.StatusOK || err != nil {
			t.Fatalf("/api/me after sign-in: %d, %v", code, err)
		}
	}

	list := runAuthdCommand(t, cli, "session", "list", userName)
	if !strings.Contains(list, "its embedded store") {
		t.Errorf("session list does not say it used the server's embedded store:\n%s", list)
	}
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] != "ID" && !strings.HasPrefix(line, "authd:") && !strings.HasPrefix(line, "time=") {
			ids = append(ids, f[0])
		}
	}
	if len(ids) != 2 {
		t.Fatalf("session list shows %d sessions, want 2:\n%s", len(ids), list)
	}
	runAuthdCommand(t, cli, "session", "revoke", userName, ids[0])
	live := 0
	for _, tok := range []string{laptop, phone} {
		code, err := getMe(c, p.URL+"/api/me", tok)
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusOK {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("%d sessions still work after revoking one of two through the command line", live)
	}

	// A password change on the web ends the other session.
	token := signIn(t, c, p.URL, userName, userPassword)
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/api/password", strings.NewReader(url.Values{
		"current_password": {userPassword}, "new_password": {"a brand new passphrase"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "session_id", Value: token})
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password change: status %d", resp.StatusCode)
	}
	for _, tok := range []string{laptop, phone} {
		if code, _ := getMe(c, p.URL+"/api/me", tok); code != http.StatusUnauthorized {
			t.Errorf("an old session answers %d after the password change, want 401", code)
		}
	}

	// Throttling: the fourth wrong guess in a row is refused.
	var last int
	for range 4 {
		resp, err := c.PostForm(p.URL+"/login", url.Values{"username": {userName}, "password": {"wrong guess"}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("fourth wrong password: status %d, want 429", last)
	}

	// Once the server stops, its store is gone and the commands say so.
	path := strings.TrimPrefix(dbURL, "sqlite:") + "-server.json"
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the server wrote no %s: %v", filepath.Base(path), err)
	}
	p.signal(t, syscall.SIGTERM)
	<-p.exited
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s left behind after the server stopped: %v", filepath.Base(path), err)
	}
	cmd := runAuthdFailing(t, map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": "memory://"}, "session", "list", userName)
	if !strings.Contains(cmd, "no authd serve is running on this database") {
		t.Errorf("session list with no server in memory mode:\n%s", cmd)
	}
}

// runAuthdFailing runs one authd command that must fail, and returns its output.
func runAuthdFailing(t *testing.T, settings map[string]string, args ...string) string {
	t.Helper()
	cmd := exec.Command(authdBin, args...)
	cmd.Env = authdEnv(settings)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("authd %s succeeded, want a failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}
