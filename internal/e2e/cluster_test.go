package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/rediscluster"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/testenv"
)

// clusterPrefix is the session key prefix of the cluster test's server.
const clusterPrefix = "e2e:session:"

// TestRedisCluster runs authd on a real Redis Cluster of 3 primaries, each
// with a replica: the sign-in, list, revoke, password change and throttle
// flow; then a primary killed right after a sign-out (the session stays
// ended, the others continue once its replica is promoted); then every slot
// of a primary moved away by redis-cli --cluster reshard while requests
// keep coming (no error, no session lost).
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	cl := testenv.StartCluster(t, 3, 1)
	settings := map[string]string{
		"DATABASE_URL":     testenv.SQLiteURL(t),
		"REDIS_URL":        "redis+cluster://" + strings.Join(cl.Primaries(t), ","),
		"REDIS_KEY_PREFIX": clusterPrefix,
	}
	const users = 6
	name := func(i int) string { return fmt.Sprintf("user%d", i) }
	for i := range users {
		addUser(t, settings, name(i), userPassword)
	}
	p := startAuthd(t, settings)
	c := noRedirects()

	// Two sessions per user; users' sessions spread over the primaries.
	tokens := make([][]string, users)
	for i := range users {
		for range 2 {
			tokens[i] = append(tokens[i], signIn(t, c, p.URL, name(i), userPassword))
		}
	}
	live := map[string]string{} // token → user name, for the load below
	nodes := map[string]bool{}
	for i, ts := range tokens {
		for _, tok := range ts {
			wantMe(t, c, p.URL, tok, name(i), http.StatusOK, "after sign-in")
			live[tok] = name(i)
			nodes[cl.OwnerOf(t, rediscluster.Slot(session.RecordKey(clusterPrefix, tok)), "")] = true
		}
	}
	if len(nodes) < 2 {
		t.Fatalf("%d users' sessions all live on %v: the test needs them on several primaries", users, nodes)
	}

	// List, then revoke the other session.
	list := listSessions(t, c, p.URL, tokens[0][0])
	if len(list) != 2 {
		t.Fatalf("user0 lists %d sessions, want 2: %+v", len(list), list)
	}
	for _, s := range list {
		if !s.Current {
			resp := postJSON(t, c, p.URL+"/api/sessions/"+s.ID+"/revoke", tokens[0][0], nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: status %d", resp.StatusCode)
			}
		}
	}
	wantMe(t, c, p.URL, tokens[0][1], "", http.StatusUnauthorized, "revoked")
	delete(live, tokens[0][1])

	// The command line finds the same sessions, through REDIS_CLUSTER_ADDRS.
	cli := map[string]string{
		"DATABASE_URL": settings["DATABASE_URL"], "REDIS_KEY_PREFIX": clusterPrefix,
		"REDIS_CLUSTER_ADDRS": strings.Join(cl.Primaries(t)[:1], ","),
	}
	if out := runAuthdCommand(t, cli, "session", "list", name(1)); strings.Count(out, "Go client") != 2 {
		t.Errorf("authd session list %s: want a header and 2 sessions:\n%s", name(1), out)
	}

	// A password change ends the user's other session.
	resp := postJSON(t, c, p.URL+"/api/password", tokens[2][0],
		map[string]string{"current_password": userPassword, "new_password": "a brand new passphrase 42"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password change: status %d", resp.StatusCode)
	}
	wantMe(t, c, p.URL, tokens[2][1], "", http.StatusUnauthorized, "after the password change")
	delete(live, tokens[2][0])
	delete(live, tokens[2][1])
	if tok := sessionCookie(resp); tok != "" {
		live[tok] = name(2)
	}

	// The throttle counts on the cluster: wrong passwords end in 429.
	throttled := false
	for range 30 {
		r, err := c.PostForm(p.URL+"/login", url.Values{"username": {name(3)}, "password": {"wrong"}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode == http.StatusTooManyRequests {
			throttled = true
			break
		}
		if r.StatusCode != http.StatusUnauthorized && r.StatusCode != http.StatusOK {
			t.Fatalf("wrong password: status %d, want 401 (or the form again) until 429", r.StatusCode)
		}
	}
	if !throttled {
		t.Fatal("30 wrong passwords were never throttled")
	}

	// Sign out, and kill that session's primary at once: once its replica
	// is promoted, the signed-out session is still refused (the sign-out
	// waited for the replica), and every other session continues.
	out := tokens[4][0]
	victim := cl.OwnerOf(t, rediscluster.Slot(session.RecordKey(clusterPrefix, out)), "")
	wantCode(t, "sign-out", post(t, c, p.URL+"/logout", nil, out), http.StatusSeeOther)
	cl.Kill(t, victim)
	delete(live, out)
	promoted := cl.WaitFailover(t, rediscluster.Slot(session.RecordKey(clusterPrefix, out)), victim, 30*time.Second)
	t.Logf("killed primary %s; its replica %s took over", victim, promoted)
	wantEventually(t, c, p.URL, live, 10*time.Second)
	wantMe(t, c, p.URL, out, "", http.StatusUnauthorized, "signed out just before its primary was killed")
	wantMe(t, c, p.URL, tokens[0][1], "", http.StatusUnauthorized, "revoked before the failover")

	// Move every slot of the primary holding most sessions to another one,
	// under load: each request is answered 200 throughout.
	from, to := busiest(t, cl, live), ""
	for _, a := range cl.Primaries(t) {
		if a != from {
			to = a
			break
		}
	}
	n := len(cl.SlotsOf(t, from))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var failures []string
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				for tok, who := range live {
					status, err := getMeAs(c, p.URL+"/api/me", tok, who)
					mu.Lock()
					statuses[status]++
					if err != nil || status != http.StatusOK {
						failures = append(failures, fmt.Sprintf("worker %d: %s: %d %v", w, who, status, err))
					}
					mu.Unlock()
				}
				if i%5 == 0 { // the list is a multi-key read (ZRANGE, MGET)
					listSessions(t, c, p.URL, tokens[1][0])
				}
			}
		})
	}
	// Meanwhile one user signs in and out over and over. While that user's
	// slot migrates, sign-in and sign-out may answer 503 (the scripts wait
	// for the slot, see docs/cluster.md); they never half-happen: a 303
	// sign-out is final, a 503 one leaves the session as it was.
	writer := name(0)
	for tok, who := range live {
		// Not user2 (new password) nor user3 (throttled above).
		if who != name(2) && who != name(3) && cl.OwnerOf(t, rediscluster.Slot(session.RecordKey(clusterPrefix, tok)), "") == from {
			writer = who
			break
		}
	}
	type churned struct {
		token  string
		status int // of its sign-out
	}
	var churn []churned
	writes := map[string]int{}
	// write sends req and counts its status, which must be a 303 or a 503;
	// it returns the status and the session cookie set, if any.
	write := func(what string, req *http.Request) (int, string) {
		r, err := c.Do(req)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failures = append(failures, what+": "+err.Error())
			return 0, ""
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		writes[fmt.Sprintf("%s %d", what, r.StatusCode)]++
		if r.StatusCode != http.StatusSeeOther && r.StatusCode != http.StatusServiceUnavailable {
			failures = append(failures, fmt.Sprintf("%s during the reshard: %d", what, r.StatusCode))
		}
		return r.StatusCode, sessionCookie(r)
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest(http.MethodPost, p.URL+"/login",
				strings.NewReader(url.Values{"username": {writer}, "password": {userPassword}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, tok := write("sign-in", req)
			switch {
			case status == 0:
				return // authd is not answering: the failure is recorded
			case status == http.StatusSeeOther && tok == "":
				mu.Lock()
				failures = append(failures, "sign-in answered 303 without a session cookie")
				mu.Unlock()
			case status == http.StatusSeeOther:
				req, _ := http.NewRequest(http.MethodPost, p.URL+"/logout", nil)
				req.AddCookie(&http.Cookie{Name: "session_id", Value: tok})
				status, _ := write("sign-out", req)
				mu.Lock()
				churn = append(churn, churned{tok, status})
				mu.Unlock()
			}
		}
	})
	began := time.Now()
	cl.Reshard(t, from, to, n)
	took := time.Since(began)
	close(stop)
	wg.Wait()
	t.Logf("resharded %d slots from %s to %s in %s under load: /api/me statuses %v; %s signing in and out: %v",
		n, from, to, took.Round(time.Millisecond), statuses, writer, writes)
	if left := len(cl.SlotsOf(t, from)); left != 0 {
		t.Fatalf("%s still serves %d slots after the reshard", from, left)
	}
	if keys, err := redis.Int(cl.Node(t, from).Conn(t).Do("DBSIZE")); err != nil || keys != 0 {
		t.Fatalf("%s still holds %d keys after the reshard (%v)", from, keys, err)
	}
	if len(failures) > 0 {
		t.Fatalf("%d requests failed during the reshard, first: %s", len(failures), failures[0])
	}
	if statuses[http.StatusOK] == 0 {
		t.Fatal("no request ran during the reshard")
	}
	for tok, who := range live {
		wantMe(t, c, p.URL, tok, who, http.StatusOK, "after the reshard")
	}
	wantMe(t, c, p.URL, out, "", http.StatusUnauthorized, "signed out, after the reshard")
	if len(churn) == 0 {
		t.Fatal("no sign-in and sign-out ran during the reshard")
	}
	for _, ch := range churn {
		if ch.status == http.StatusSeeOther {
			wantMe(t, c, p.URL, ch.token, "", http.StatusUnauthorized, "signed out during the reshard")
		} else {
			wantMe(t, c, p.URL, ch.token, writer, http.StatusOK, "sign-out refused (503) during the reshard")
		}
	}
}

// wantMe checks that /api/me answers want for token, as the user called
// name when want is 200.
func wantMe(t *testing.T, c *http.Client, base, token, name string, want int, when string) {
	t.Helper()
	status, err := getMeAs(c, base+"/api/me", token, name)
	if err != nil || status != want {
		t.Fatalf("%s: /api/me = %d (%v), want %d %q", when, status, err, want, name)
	}
}

// wantEventually waits until every live session answers 200 (its primary
// may have just failed over); a 401 is a lost session and fails at once.
func wantEventually(t *testing.T, c *http.Client, base string, live map[string]string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for tok, who := range live {
		for {
			status, err := getMeAs(c, base+"/api/me", tok, who)
			if err == nil && status == http.StatusOK {
				break
			}
			if status == http.StatusUnauthorized || time.Now().After(deadline) {
				t.Fatalf("after the failover, %s's session: %d %v", who, status, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

type listedSession struct {
	ID      string `json:"id"`
	Current bool   `json:"current"`
}

func listSessions(t *testing.T, c *http.Client, base, token string) []listedSession {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/sessions", nil)
	req.AddCookie(&http.Cookie{Name: "session_id", Value: token})
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("list sessions: %v", err)
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Sessions []listedSession `json:"sessions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("list sessions: status %d, %v", resp.StatusCode, err)
	}
	return body.Sessions
}

// postJSON posts v (nil: no body) as JSON with the session cookie.
func postJSON(t *testing.T, c *http.Client, u, token string, v any) *http.Response {
	t.Helper()
	var body io.Reader
	if v != nil {
		b, _ := json.Marshal(v)
		body = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(http.MethodPost, u, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: "session_id", Value: token})
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// busiest is the primary holding the most live sessions.
func busiest(t *testing.T, cl *testenv.Cluster, live map[string]string) string {
	t.Helper()
	count := map[string]int{}
	best := ""
	for tok := range live {
		a := cl.OwnerOf(t, rediscluster.Slot(session.RecordKey(clusterPrefix, tok)), "")
		count[a]++
		if best == "" || count[a] > count[best] {
			best = a
		}
	}
	return best
}
