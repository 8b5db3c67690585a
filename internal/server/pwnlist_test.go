package server

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/emailtoken"
)

// R4: a new password on the list of common passwords is refused at
// sign-up, password change and reset, with a clear message; an existing
// account with such a password still signs in.
func TestCommonPasswordsRefused(t *testing.T) {
	ts := newTestServer(t)
	old := ts.confirmedUser(t, "olduser", "qwertyuiop", "old@example.com") // from before the list
	signedIn := ts.signedIn(t, "alice", "alice password")
	tok, err := ts.tokens.Issue(context.Background(), emailtoken.Token{Purpose: emailtoken.Reset, UserID: old.ID, Address: old.Email, Epoch: old.Epoch}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		pw, want string
	}{
		{"password", "most common passwords"},
		{"Password1", "most common passwords"},
		{"iloveyou", "most common passwords"},
		{"1234567890", "most common passwords"},
		{"charlie1", "most common passwords"},
		{"qwertyuiop", "most common passwords"},
	} {
		t.Run(tc.pw, func(t *testing.T) {
			resp := ts.client(t).postForm("/signup", url.Values{"username": {"carol"}, "password": {tc.pw}}, "Accept", "application/json")
			wantStatus(t, resp, http.StatusUnprocessableEntity)
			if b := body(t, resp); !strings.Contains(b, tc.want) || !strings.Contains(b, `"password"`) {
				t.Fatalf("sign-up: %s", b)
			}
			resp = signedIn.postForm("/api/password", url.Values{"current_password": {"alice password"}, "new_password": {tc.pw}})
			wantStatus(t, resp, http.StatusUnprocessableEntity)
			if b := body(t, resp); !strings.Contains(b, tc.want) {
				t.Fatalf("password change: %s", b)
			}
			resp = ts.client(t).postForm("/reset", url.Values{"token": {tok}, "new_password": {tc.pw}}, "Accept", "application/json")
			wantStatus(t, resp, http.StatusUnprocessableEntity)
			if b := body(t, resp); !strings.Contains(b, tc.want) {
				t.Fatalf("reset: %s", b)
			}
		})
	}
	// The user's own name or address is refused as well.
	resp := ts.client(t).postForm("/signup", url.Values{"username": {"carol-the-user"}, "password": {"Carol-The-User"}}, "Accept", "application/json")
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	resp = ts.client(t).postForm("/reset", url.Values{"token": {tok}, "new_password": {"old@example.com"}}, "Accept", "application/json")
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	for _, name := range []string{"carol", "carol-the-user"} {
		if _, err := ts.users.ByName(context.Background(), name); err == nil {
			t.Fatalf("account %s was created with a refused password", name)
		}
	}
	// The existing account signs in with its old, common password (the
	// list is never consulted at sign-in), and the refused resets left its
	// password and its link alone.
	wantStatus(t, ts.client(t).login("olduser", "qwertyuiop"), http.StatusSeeOther)
	wantStatus(t, ts.client(t).get("/reset?token="+tok), http.StatusOK)
	// A good password goes through every door.
	wantStatus(t, ts.client(t).postForm("/reset", url.Values{"token": {tok}, "new_password": {"a fine new passphrase"}}), http.StatusSeeOther)
}

// R4 with the optional range API: a breached password is refused, sign-in
// never asks, and the API being down lets passwords through (fail open)
// with a log line.
func TestPwnedPasswordsRange(t *testing.T) {
	const breached = "breached but long passphrase"
	sum := sha1.Sum([]byte(breached))
	digest := strings.ToUpper(hex.EncodeToString(sum[:]))
	var requests, down atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if down.Load() == 1 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Add-Padding") != "true" || r.URL.Path != "/range/"+digest[:5] && len(r.URL.Path) != len("/range/")+5 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/range/"+digest[:5] {
			fmt.Fprintf(w, "%s:42\r\n", digest[5:])
		}
		fmt.Fprintf(w, "%035X:0\r\n", 1) // padding
	}))
	t.Cleanup(api.Close)
	ts := newTestServer(t, func(o *testOptions) { o.rangeURL = api.URL + "/range/" })
	ts.addUser(t, "olduser", breached)

	resp := ts.client(t).postForm("/signup", url.Values{"username": {"alice"}, "password": {breached}}, "Accept", "application/json")
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if !strings.Contains(body(t, resp), "data breach") {
		t.Fatal("no clear message for a breached password")
	}
	before := requests.Load()
	wantStatus(t, ts.client(t).login("olduser", breached), http.StatusSeeOther)
	if requests.Load() != before {
		t.Fatal("sign-in asked the range API")
	}
	down.Store(1)
	wantStatus(t, ts.client(t).postForm("/signup", url.Values{"username": {"alice"}, "password": {breached}}), http.StatusSeeOther)
	if !strings.Contains(ts.logs.String(), "range API unreachable") {
		t.Fatal("no log line for the range API being down")
	}
}
