package device_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/device"
	"github.com/sessionauth/authd/internal/secret"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newTokens(t *testing.T, keys *secret.Keys, c *clock) *device.Tokens {
	t.Helper()
	ts, err := device.New(device.Config{Key: keys.Derive(device.Purpose), Lifetime: 24 * time.Hour, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestIssueAndParse(t *testing.T) {
	keys := secret.Generate()
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	ts := newTokens(t, keys, c)

	s := ts.Issue(42)
	tok, err := ts.Parse(s)
	if err != nil || tok.UserID != 42 || !tok.Issued.Equal(c.now) || len(tok.Key()) != 32 {
		t.Fatalf("Parse(Issue(42)) = %+v, %v", tok, err)
	}
	if other, _ := ts.Parse(ts.Issue(42)); other.Key() == tok.Key() {
		t.Fatal("two tokens share a nonce")
	}

	// Every single-bit change is refused: the signature covers it all.
	raw, _ := base64.RawURLEncoding.DecodeString(s)
	for i := range raw {
		for bit := range 8 {
			b := append([]byte(nil), raw...)
			b[i] ^= 1 << bit
			if _, err := ts.Parse(base64.RawURLEncoding.EncodeToString(b)); err == nil {
				t.Fatalf("a token with byte %d bit %d flipped was accepted", i, bit)
			}
		}
	}
	// Another master key, another purpose: refused.
	if _, err := newTokens(t, secret.Generate(), c).Parse(s); err == nil {
		t.Fatal("a token signed under another master key was accepted")
	}
	for _, bad := range []string{"", "x", s + "A", s[:len(s)-1], "@" + s[1:]} {
		if _, err := ts.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}

	// Expiry: accepted until the lifetime has passed, never after; a token
	// from the future (beyond a little clock skew) is refused too.
	c.now = c.now.Add(24*time.Hour - time.Second)
	if _, err := ts.Parse(s); err != nil {
		t.Fatalf("a token one second before its expiry: %v", err)
	}
	c.now = c.now.Add(time.Second)
	if _, err := ts.Parse(s); err == nil {
		t.Fatal("an expired token was accepted")
	}
	c.now = time.Unix(1_800_000_000, 0).Add(-10 * time.Minute)
	if _, err := ts.Parse(s); err == nil {
		t.Fatal("a token issued in the future was accepted")
	}
}

func TestFromRequest(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	ts := newTokens(t, secret.Generate(), c)
	alice, bob := ts.Issue(1), ts.Issue(2)

	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.Header.Set("Cookie", device.CookieName+"=garbage; "+device.CookieName+"="+alice)
	r.Header.Set(device.Header, bob)
	got := ts.FromRequest(r)
	if len(got) != 2 || got[0].UserID != 2 || got[1].UserID != 1 {
		t.Fatalf("FromRequest = %+v, want bob's (header) then alice's (cookie)", got)
	}
	if n := len(ts.FromRequest(httptest.NewRequest(http.MethodPost, "/login", nil))); n != 0 {
		t.Fatalf("a request without tokens gave %d", n)
	}
}

func TestCookie(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	ts, err := device.New(device.Config{Key: secret.Generate().Derive(device.Purpose), Lifetime: 90 * 24 * time.Hour,
		CookieName: "__Host-" + device.CookieName, Secure: true, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	ts.SetCookie(w, ts.Issue(1))
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	ck := cookies[0]
	if ck.Name != "__Host-device_token" || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly || !ck.Secure ||
		ck.SameSite != http.SameSiteLaxMode || ck.MaxAge != 90*24*3600 {
		t.Fatalf("device cookie %+v", ck)
	}
	if _, err := device.New(device.Config{Key: make([]byte, 16), Lifetime: time.Hour}); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}
