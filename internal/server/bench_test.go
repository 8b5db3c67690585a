package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sessionauth/authd/internal/password"
)

// The benchmarks drive the real handler (router, middleware, sessions in a
// real redis-server, users in SQLite) without the network in between.
//
//	go test -run '^$' -bench . -benchmem ./internal/server/

func BenchmarkPublicPage(b *testing.B) {
	ts := newTestServer(b)
	h := ts.Config.Handler
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

func BenchmarkProtectedPage(b *testing.B) {
	for _, path := range []string{"/api/me", "/account"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			ts := newTestServer(b)
			token := ts.signedIn(b, "alice", "password one").sessionCookie()
			h := ts.Config.Handler
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, path, nil)
					req.AddCookie(&http.Cookie{Name: "session_id", Value: token})
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d", rec.Code)
					}
				}
			})
		})
	}
}

// BenchmarkSignIn measures a full sign-in at the default cost, beside the raw
// bcrypt comparison it is bounded by.
func BenchmarkSignIn(b *testing.B) {
	b.Run("handler", func(b *testing.B) {
		ts := newTestServer(b, func(o *testOptions) { o.cost = password.DefaultCost })
		ts.addUser(b, "alice", "password one")
		h := ts.Config.Handler
		form := url.Values{"username": {"alice"}, "password": {"password one"}}.Encode()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusSeeOther {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	})
	b.Run("bcrypt", func(b *testing.B) {
		hash, _ := bcrypt.GenerateFromPassword([]byte("password one"), password.DefaultCost)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := bcrypt.CompareHashAndPassword(hash, []byte("password one")); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkMeWithJWT is BenchmarkProtectedPage's /api/me with an access
// JWT instead of the cookie: ES256 verification plus the sid read.
func BenchmarkMeWithJWT(b *testing.B) {
	ts := newTestServer(b)
	ts.addUser(b, "alice", "password one")
	resp := ts.client(b).postForm("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"password one"}})
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body(b, resp)), &tr); err != nil || tr.AccessToken == "" {
		b.Fatalf("password grant: %v", err)
	}
	h := ts.Config.Handler
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
			req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
