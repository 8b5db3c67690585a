// Package device issues and checks device tokens, the "device cookies" of
// OWASP's brute-force guidance: proof that a browser or client has signed in
// to an account before.
//
// Failed sign-ins are throttled per account, and a stranger who knows a user
// name could otherwise keep that account locked for good. A client holding a
// valid device token for the account is throttled on the token's own budget
// instead, so the lock strangers trip does not stop the owner's devices; too
// many failures on one token lock that token alone.
//
// A token names the user id, a random nonce (which keys its failure counter)
// and when it was issued, and is signed with HMAC-SHA256 under a key derived
// from the server's master key (package secret). Nothing is stored on the
// server: any instance with the same master key checks any token. Browsers
// keep it in a long-lived HttpOnly cookie of its own; API clients get it in
// the JSON sign-in answer and send it back in the Device-Token header.
package device

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
)

const (
	// Purpose is the sub-key purpose for secret.Keys.Derive.
	Purpose = "device-token/v1"
	// CookieName is the cookie browsers keep the token in.
	CookieName = "device_token"
	// Header carries the token from API clients.
	Header = "Device-Token"
)

// Layout of a token before base64url: version, user id, nonce, issue time
// (unix seconds), HMAC-SHA256 of everything before it.
const (
	version  = 1
	nonceLen = 16
	bodyLen  = 1 + 8 + nonceLen + 8
	tokenLen = bodyLen + sha256.Size
	// maxTokens bounds the tokens read from one request (cookies and header).
	maxTokens = 4
	// maxSkew tolerates clocks of instances that disagree a little.
	maxSkew = 5 * time.Minute
)

// ErrInvalid reports a token that is malformed, forged, or expired.
var ErrInvalid = errors.New("device: invalid token")

// Token is a checked device token.
type Token struct {
	UserID int64
	Nonce  [nonceLen]byte
	Issued time.Time
}

// Key names the token's failure counter: its nonce, in hex.
func (t Token) Key() string { return hex.EncodeToString(t.Nonce[:]) }

// Config sets up Tokens.
type Config struct {
	// Key signs and checks tokens: secret.Keys.Derive(Purpose).
	Key []byte
	// Lifetime is how long a token is accepted after it was issued. Each
	// sign-in issues a new one, so a device in regular use stays trusted.
	Lifetime time.Duration
	// CookieName defaults to CookieName; "__Host-" + CookieName when the
	// session cookie has that prefix.
	CookieName string
	// Secure sets the cookie's Secure attribute, as for the session cookie.
	Secure bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Tokens issues and checks device tokens.
type Tokens struct {
	cfg Config
}

// New returns Tokens for cfg.
func New(cfg Config) (*Tokens, error) {
	if len(cfg.Key) < 32 {
		return nil, errors.New("device: the key must be at least 32 bytes")
	}
	if cfg.Lifetime <= 0 {
		return nil, errors.New("device: the lifetime must be positive")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = CookieName
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tokens{cfg: cfg}, nil
}

// CookieName is the name of the cookie that carries tokens.
func (ts *Tokens) CookieName() string { return ts.cfg.CookieName }

// Issue returns a new token for the user.
func (ts *Tokens) Issue(userID int64) string {
	b := make([]byte, bodyLen, tokenLen)
	b[0] = version
	binary.BigEndian.PutUint64(b[1:9], uint64(userID))
	rand.Read(b[9 : 9+nonceLen]) // never fails since Go 1.24
	binary.BigEndian.PutUint64(b[9+nonceLen:], uint64(ts.cfg.Now().Unix()))
	return base64.RawURLEncoding.EncodeToString(ts.sign(b))
}

func (ts *Tokens) sign(body []byte) []byte {
	m := hmac.New(sha256.New, ts.cfg.Key)
	m.Write(body)
	return m.Sum(body)
}

// Parse checks a token's form, signature and age.
func (ts *Tokens) Parse(s string) (Token, error) {
	if base64.RawURLEncoding.EncodedLen(tokenLen) != len(s) {
		return Token{}, ErrInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != tokenLen || b[0] != version {
		return Token{}, ErrInvalid
	}
	if !hmac.Equal(ts.sign(b[:bodyLen:bodyLen]), b) {
		return Token{}, ErrInvalid
	}
	var t Token
	t.UserID = int64(binary.BigEndian.Uint64(b[1:9]))
	copy(t.Nonce[:], b[9:9+nonceLen])
	t.Issued = time.Unix(int64(binary.BigEndian.Uint64(b[9+nonceLen:bodyLen])), 0)
	now := ts.cfg.Now()
	if t.UserID <= 0 || t.Issued.After(now.Add(maxSkew)) || !now.Before(t.Issued.Add(ts.cfg.Lifetime)) {
		return Token{}, ErrInvalid
	}
	return t, nil
}

// FromRequest returns the valid tokens the request carries, from the
// Device-Token header and from cookies; forged, malformed and expired ones
// are left out. Several cookies of the name (one planted from a sibling
// domain, say) are harmless: none is valid without the key, and the caller
// trusts a request only for the account a valid token names.
func (ts *Tokens) FromRequest(r *http.Request) []Token {
	candidates := r.Header.Values(Header)
	for _, c := range r.CookiesNamed(ts.cfg.CookieName) {
		candidates = append(candidates, c.Value)
	}
	var out []Token
	for i, s := range candidates {
		if i == maxTokens {
			break
		}
		if t, err := ts.Parse(strings.TrimSpace(s)); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// SetCookie gives the browser the token in a cookie that lasts as long as
// the token: HttpOnly, SameSite=Lax, Path=/, host-only, Secure as configured.
// It outlives sign-out on purpose: that is what makes the device known.
func (ts *Tokens) SetCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name:     ts.cfg.CookieName,
		Value:    token,
		Path:     "/",
		MaxAge:   int(ts.cfg.Lifetime.Seconds()),
		Expires:  ts.cfg.Now().Add(ts.cfg.Lifetime).UTC(),
		HttpOnly: true,
		Secure:   ts.cfg.Secure,
		SameSite: http.SameSiteLaxMode,
	})
}
