package mfa_test

import (
	"testing"

	"github.com/sessionauth/authd/internal/mfa"
)

// The relying party comes from PUBLIC_URL: its host, its origin; an IP
// address or a URL that is none is refused (the server then runs without
// passkeys).
func TestNewWebAuthn(t *testing.T) {
	t.Parallel()
	w, err := mfa.NewWebAuthn("https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if w.Config.RPID != "auth.example.com" || len(w.Config.RPOrigins) != 1 || w.Config.RPOrigins[0] != "https://auth.example.com" {
		t.Fatalf("relying party %q %q", w.Config.RPID, w.Config.RPOrigins)
	}
	for _, bad := range []string{"", "auth.example.com", "ftp://auth.example.com", "http://127.0.0.1:8080"} {
		if _, err := mfa.NewWebAuthn(bad); err == nil {
			t.Errorf("NewWebAuthn(%q) accepted", bad)
		}
	}
}
