package cli

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/testenv"
)

// TestServeSentinelFailover runs the real program against a Sentinel
// deployment, kills the Redis master under a signed-in session, and checks
// that the server answers 503 (never 500, never "signed out") until the
// replica is promoted, then serves the same session again.
func TestServeSentinelFailover(t *testing.T) {
	sg := testenv.StartSentinels(t, testenv.SentinelOptions{})
	env := map[string]string{
		"DATABASE_URL":          testenv.SQLiteURL(t),
		"REDIS_URL":             sg.URL, // its host does not exist: only the sentinels are asked
		"REDIS_SENTINEL_ADDRS":  strings.Join(sg.Addrs, ","),
		"REDIS_SENTINEL_MASTER": sg.Master,
		"BCRYPT_COST":           "10",
		"LISTEN_ADDR":           "127.0.0.1:0",
	}
	p := newProgram(t, env)
	p.addUser("alice", "correct horse")
	base, stop := p.serve()

	c := signIn(t, base, "alice", "correct horse")
	jar := c.Jar
	me := func() (int, string) {
		resp, err := c.Get(base + "/api/me")
		if err != nil {
			t.Fatalf("GET /api/me: %v", err)
		}
		defer resp.Body.Close()
		var body struct {
			User struct {
				Name       string `json:"name"`
				SignedInAt string `json:"signed_in_at"`
			} `json:"user"`
		}
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("GET /api/me: %v", err)
			}
		}
		return resp.StatusCode, body.User.Name + " " + body.User.SignedInAt
	}
	status, before := me()
	if status != http.StatusOK || !strings.HasPrefix(before, "alice ") {
		t.Fatalf("GET /api/me before failover: %d %q", status, before)
	}
	// Replication is asynchronous: make sure the session reached the
	// replica, so that the test measures the failover, not a lost write.
	sg.WaitReplicated(t)

	start := time.Now()
	old := sg.KillMaster(t)
	unavailable := 0
	for {
		status, after := me()
		if status == http.StatusOK {
			if after != before {
				t.Fatalf("after failover /api/me shows %q, want the same session %q", after, before)
			}
			break
		}
		if status != http.StatusServiceUnavailable {
			t.Fatalf("during failover GET /api/me answered %d, want 503 (after %d answers 503)", status, unavailable)
		}
		unavailable++
		if time.Since(start) > 30*time.Second {
			t.Fatalf("/api/me still 503 after %v", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	outage := time.Since(start)
	t.Logf("outage window: %v (master %s killed; %d answers 503, then 200 with the same session)", outage.Round(time.Millisecond), old, unavailable)
	if outage > 20*time.Second {
		t.Errorf("outage window %v, want under 20s", outage)
	}

	// Writes work on the promoted replica: signing out deletes the session,
	// so a copy of the cookie no longer works.
	u, _ := url.Parse(base)
	stolen := jar.Cookies(u)
	resp, err := c.Post(base+"/logout", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-out after failover ended with %d", resp.StatusCode)
	}
	jar.SetCookies(u, stolen)
	if status, _ := me(); status != http.StatusUnauthorized {
		t.Fatalf("signed-out session after failover: /api/me %d, want 401", status)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after shutdown, want nil", err)
	}
}
