package peer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sessionauth/authd/internal/loadtest/peer"
	"github.com/sessionauth/authd/internal/testenv"
)

// The peer serves what authbench compares with authd's GET /api/me: the
// signed-in user as JSON for a minted session, 401 without one, and a
// session scs can no longer find after sign-out.
func TestPeerProtectedPage(t *testing.T) {
	t.Parallel()
	pool := testenv.StartRedis(t).Pool(t)
	sm := peer.Manager(pool)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(peer.Handler(sm, peer.User{ID: 1, Name: "bench", Hash: hash}))
	defer srv.Close()
	tok, err := peer.Mint(t.Context(), sm, 42, "user42")
	if err != nil {
		t.Fatal(err)
	}
	get := func(cookie string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/me", nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "session_id", Value: cookie})
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get(tok)
	var me struct {
		User struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"user"`
	}
	err = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || me.User.ID != 42 || me.User.Name != "user42" {
		t.Fatalf("GET /api/me with a minted session: %d %+v %v", resp.StatusCode, me, err)
	}
	if resp := get(""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /api/me without a session: %d, want 401", resp.StatusCode)
	}
	if resp := get("not-a-session"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /api/me with an unknown token: %d, want 401", resp.StatusCode)
	}
}
