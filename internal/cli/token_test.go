package cli

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/sessionauth/authd/internal/testenv"
)

func grantTokens(t *testing.T, base string, form url.Values) (access, refresh string) {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /oauth/token: %d %v", resp.StatusCode, err)
	}
	return tr.AccessToken, tr.RefreshToken
}

func getMe(t *testing.T, base, access string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Headers[0].KeyID
}

// The whole program, twice on one database and Redis: the first start
// creates a signing key that both use; a token from one works at the
// other; "token keys rotate" while they run gives a third instance a new
// key, whose tokens the running ones accept, while the live token signed
// with the old key keeps working everywhere (T7); a refresh-token reuse at
// one instance ends the session at the other (T2).
func TestTokensWholeProgram(t *testing.T) {
	r := testenv.StartRedis(t)
	env := map[string]string{
		"DATABASE_URL": testenv.SQLiteURL(t),
		"REDIS_URL":    r.URL,
		"BCRYPT_COST":  "10",
		"LISTEN_ADDR":  "127.0.0.1:0",
		"PUBLIC_URL":   "https://auth.example.test",
		"SECRET_KEY":   "bm90IGEgcmVhbCBrZXkgYnV0IDMyIGJ5dGVzIGxvbmch",
	}
	p := newProgram(t, env)
	p.addUser("alice", "correct horse")
	a, _ := p.serve()
	b, _ := p.serve()
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}, "client_id": {"cli"}}
	access, refresh := grantTokens(t, a, form)
	if got := getMe(t, b, access); got != http.StatusOK {
		t.Fatalf("a's token at b: %d", got)
	}
	out, err := p.run("", "token", "keys", "list")
	if err != nil || strings.Count(out, "ES256") != 1 {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	if out, err := p.run("", "token", "keys", "rotate"); err != nil || !strings.Contains(out, "new signing key") {
		t.Fatalf("keys rotate: %v %s", err, out)
	}
	c, _ := p.serve()
	fresh, _ := grantTokens(t, c, form)
	if kidOf(t, fresh) == kidOf(t, access) {
		t.Fatal("the instance started after the rotation signs with the old key")
	}
	for name, base := range map[string]string{"a": a, "b": b, "c": c} {
		if got := getMe(t, base, fresh); got != http.StatusOK {
			t.Errorf("new key's token at %s: %d", name, got)
		}
		if got := getMe(t, base, access); got != http.StatusOK {
			t.Errorf("old key's live token at %s: %d", name, got)
		}
	}
	// Rotate at a, then present the old refresh token at b outside the
	// grace window: the grace window is 10 s, so instead the previous token
	// of a family two rotations back is used (always a reuse).
	_, r1 := grantTokens(t, a, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	grantTokens(t, b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r1}})
	resp, err := http.PostForm(c+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("reuse at c: %d, want 400", resp.StatusCode)
	}
	for name, base := range map[string]string{"a": a, "b": b, "c": c} {
		if got := getMe(t, base, access); got != http.StatusUnauthorized {
			t.Errorf("JWT of the ended session at %s: %d, want 401", name, got)
		}
	}
	if out, err := p.run("", "token", "keys", "list"); err != nil || strings.Count(out, "ES256") != 2 {
		t.Errorf("keys after rotation: %v\n%s", err, out)
	}
}
