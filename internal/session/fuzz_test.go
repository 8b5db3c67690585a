package session

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzRequestToken sends arbitrary cookie and Authorization values: only a
// well-formed token (43 characters of base64url) may ever reach Redis, and
// nothing may panic.
func FuzzRequestToken(f *testing.F) {
	good := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for _, s := range []string{good, "", "x", good + "=", good[:42] + "+", "Bearer " + good, "\x00", "%2e%2e", good + good} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, cookie, auth string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", CookieName+"="+cookie)
		r.Header.Set("Authorization", auth)
		for _, tok := range []string{requestToken(r, CookieName), validToken(cookie), validToken(auth)} {
			if tok == "" {
				continue
			}
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if len(tok) != tokenLen || err != nil || len(raw) != 32 {
				t.Fatalf("malformed token %q accepted", tok)
			}
		}
	})
}
