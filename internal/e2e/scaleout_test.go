package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sessionauth/authd/internal/testenv"
)

// TestScaleOutBehindNginx: two instances behind nginx (round robin) share one
// Redis and one PostgreSQL. A sign-in through the proxy is honoured by both
// instances, request after request, and a sign-out through the proxy is final
// on both: replaying the old token is 401 wherever it lands.
func TestScaleOutBehindNginx(t *testing.T) {
	t.Parallel()
	nginxBin := findNginx(t) // before the skip: a missing nginx is a failure
	if os.Getenv(testenv.PostgresEnv) == "" {
		t.Skip(testenv.PostgresEnv + " is not set: the scale-out test needs PostgreSQL, which instances share " +
			"(e.g. " + testenv.PostgresEnv + "='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'; .ci/run sets it)")
	}
	r := testenv.StartRedis(t)
	settings := map[string]string{
		"DATABASE_URL":     testenv.PostgresURL(t),
		"REDIS_URL":        r.URL,
		"REDIS_KEY_PREFIX": "e2e:session:",
		"BCRYPT_COST":      bcryptCost,
		// nginx is the instances' only peer: believe its X-Forwarded-For.
		"TRUSTED_PROXIES": "127.0.0.1",
	}
	addUser(t, settings, userName, userPassword)
	a, b := startAuthd(t, settings), startAuthd(t, settings)
	px := startNginx(t, nginxBin, a.Addr, b.Addr)
	c := noRedirects()

	token := signIn(t, c, px.URL, userName, userPassword)

	// Signed in: every request succeeds, whichever instance serves it.
	const n = 20
	for i := range n {
		if status, err := getMe(c, fmt.Sprintf("%s/api/me?in=%d", px.URL, i), token); status != http.StatusOK || err != nil {
			t.Fatalf("signed-in request %d through nginx: status %d, %v", i, status, err)
		}
	}
	log := px.waitLog(t, fmt.Sprintf("/api/me?in=%d", n-1))
	served := servedBy(log, "/api/me?in=", "200")
	t.Logf("signed-in /api/me answered 200 by: %v", served)
	for _, p := range []*authd{a, b} {
		if served[p.Addr] != n/2 {
			t.Errorf("instance %s answered %d of %d signed-in requests with 200, want %d (round robin): %v",
				p.Addr, served[p.Addr], n, n/2, served)
		}
	}
	if len(served) != 2 {
		t.Errorf("signed-in requests were answered 200 by %v, want exactly the two instances", served)
	}

	// Sign out through the proxy; one instance handles it.
	wantCode(t, "sign-out through nginx", post(t, c, px.URL+"/logout?out", nil, token), http.StatusSeeOther)
	log = px.waitLog(t, "/logout?out")
	logoutBy := servedBy(log, "/logout?out", "303")

	// Replaying the token afterwards is 401 on both instances.
	for i := range n {
		if status, err := getMe(c, fmt.Sprintf("%s/api/me?after=%d", px.URL, i), token); status != http.StatusUnauthorized || err != nil {
			t.Fatalf("request %d after sign-out through nginx: status %d, %v; want 401", i, status, err)
		}
	}
	log = px.waitLog(t, fmt.Sprintf("/api/me?after=%d", n-1))
	refused := servedBy(log, "/api/me?after=", "401")
	t.Logf("sign-out answered by %v; replays after it answered 401 by: %v", logoutBy, refused)
	if len(refused) != 2 || refused[a.Addr]+refused[b.Addr] != n {
		t.Errorf("replays after sign-out were answered 401 by %v, want both instances, %d in all", refused, n)
	}
	// And asked directly, neither instance knows the token any more.
	for _, p := range []*authd{a, b} {
		if status, err := getMe(c, p.URL+"/api/me", token); status != http.StatusUnauthorized || err != nil {
			t.Errorf("instance %s asked directly after sign-out: status %d, %v; want 401", p.Addr, status, err)
		}
	}
	if bad := px.errors(t); len(bad) > 0 {
		t.Errorf("nginx logged errors:\n%s", strings.Join(bad, "\n"))
	}
}

// servedBy counts, per upstream, the log entries whose URI starts with prefix
// and whose status is status.
func servedBy(log []logEntry, prefix, status string) map[string]int {
	m := make(map[string]int)
	for _, e := range log {
		if strings.HasPrefix(e.URI, prefix) && e.Status == status {
			m[e.Upstream]++
		}
	}
	return m
}
