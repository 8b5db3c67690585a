package server

import (
	"net/http"
	"strings"
	"testing"
)

// S6: two session cookies in one request (a browser sends the one with the
// longer Path first, so a cookie planted for /account by a sibling subdomain
// or a plain-HTTP page comes before the victim's) are never resolved in
// favour of either: the request is signed out, with a message that says why.
func TestAmbiguousSessionCookieIsSignedOut(t *testing.T) {
	ts := newTestServer(t)
	victim := ts.signedIn(t, "alice", "password one")
	attacker := ts.signedIn(t, "mallory", "password two")
	v, a := victim.sessionCookie(), attacker.sessionCookie()
	name := "session_id"

	for _, header := range []string{
		name + "=" + a + "; " + name + "=" + v,
		name + "=" + v + "; " + name + "=" + a,
		name + "=" + v + "; " + name + "=" + v, // even the same value twice
		name + "=" + v + "; " + name + "=garbage",
	} {
		for _, path := range []string{"/api/me", "/account", "/account/sessions"} {
			c := ts.client(t)
			resp := c.get(path, "Cookie", header)
			b := body(t, resp)
			if strings.Contains(b, "mallory") || strings.Contains(b, "alice") {
				t.Fatalf("GET %s with Cookie %q acted as a signed-in user:\n%.300s", path, header, b)
			}
			if strings.HasPrefix(path, "/api/") {
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("GET %s with two session cookies: status %d, want 401", path, resp.StatusCode)
				}
			} else if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("GET %s with two session cookies: status %d, want 400 with an explanation", path, resp.StatusCode)
			}
			if !strings.Contains(b, "more than one session cookie") {
				t.Errorf("GET %s with two session cookies does not say why it is signed out:\n%.300s", path, b)
			}
		}
		// A state-changing request is refused the same way and changes nothing.
		resp := ts.client(t).do(http.MethodPost, "/api/sessions/revoke-others", nil, "Cookie", header)
		wantStatus(t, resp, http.StatusUnauthorized)
	}
	// Both sessions are intact, and each cookie alone still works.
	wantStatus(t, victim.get("/api/me"), http.StatusOK)
	wantStatus(t, attacker.get("/api/me"), http.StatusOK)
	if b := body(t, victim.get("/api/sessions")); strings.Count(b, `"id"`) != 1 {
		t.Errorf("alice's sessions after the ambiguous requests: %s", b)
	}
}
