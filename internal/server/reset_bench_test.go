package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkForgot times "forgot password" for a known account (by name and
// by address) and for nobody: R2 wants them alike. No mail worker runs, so
// the outbox grows; the limit is raised past what a run inserts.
//
//	go test -run '^$' -bench Forgot -benchtime 2000x ./internal/server/
func BenchmarkForgot(b *testing.B) {
	for _, login := range []string{"alice", "alice@example.com", "nobody", "nobody@example.com"} {
		b.Run(strings.ReplaceAll(login, "@", "_at_"), func(b *testing.B) {
			ts := newTestServer(b)
			ts.confirmedUser(b, "alice", "password one", "alice@example.com")
			h := ts.Config.Handler
			form := url.Values{"login": {login}}.Encode()
			b.ResetTimer()
			for range b.N {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "/forgot", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
