package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	gjwt "github.com/golang-jwt/jwt/v5"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/secret"
	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/token"
)

const iss = "https://auth.example.test"

type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	db, d, err := database.Open(t.Context(), testenv.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := database.Migrate(t.Context(), db, d); err != nil {
		t.Fatal(err)
	}
	return db
}

func newIssuer(t testing.TB, db *sql.DB, keys *secret.Keys, c *clock) *token.Issuer {
	t.Helper()
	store, err := token.NewKeyStore(db, keys)
	if err != nil {
		t.Fatal(err)
	}
	i, err := token.New(t.Context(), store, token.Config{Issuer: iss, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func setup(t testing.TB) (*token.Issuer, *sql.DB, *secret.Keys, *clock) {
	db := openDB(t)
	keys := secret.Generate()
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return newIssuer(t, db, keys, c), db, keys, c
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	i, _, _, _ := setup(t)
	raw, _, err := i.Sign(t.Context(), 42, "sid1", "cli", iss, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := i.Verify(t.Context(), raw, iss)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID() != 42 || c.SessionID != "sid1" || c.ClientID != "cli" || c.ID == "" || c.Issuer != iss {
		t.Errorf("claims %+v", c)
	}
	// RFC 9068 header.
	tok, _ := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if h := tok.Headers[0]; h.ExtraHeaders["typ"] != "at+jwt" || h.KeyID == "" {
		t.Errorf("header %+v", h)
	}
}

// T5: every forgery and misuse is refused.
func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	i, db, keys, c := setup(t)
	store, _ := token.NewKeyStore(db, keys)
	stored, err := store.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	real := stored[0].Private
	good, _, err := i.Sign(t.Context(), 42, "sid1", "", iss, "")
	if err != nil {
		t.Fatal(err)
	}
	kid := i.JWKS(t.Context()).Keys[0].KeyID
	pub := i.JWKS(t.Context()).Keys[0].Key.(*ecdsa.PublicKey)
	parts := strings.Split(good, ".")
	payload := parts[1]
	b64 := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	signWith := func(key any, alg jose.SignatureAlgorithm, kid, typ string, claims any) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jwt.Signed(s).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	now := c.now()
	claims := func(mod func(*token.Claims)) token.Claims {
		cl := token.Claims{Claims: jwt.Claims{Issuer: iss, Subject: "42", Audience: jwt.Audience{iss}, ID: "j",
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)}, SessionID: "sid1"}
		if mod != nil {
			mod(&cl)
		}
		return cl
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	hsPublic := func() string {
		// HS256 keyed with the public key, as the classic confusion attack does.
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubDER}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := jwt.Signed(s).Claims(claims(nil)).Serialize()
		return raw
	}()
	cases := map[string]string{
		"alg none":           b64(map[string]string{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + payload + ".",
		"HS256 pubkey":       hsPublic,
		"unknown kid":        signWith(other, jose.ES256, "nope", "at+jwt", claims(nil)),
		"own kid, other key": signWith(other, jose.ES256, kid, "at+jwt", claims(nil)),
		"wrong typ":          signWith(real, jose.ES256, kid, "JWT", claims(nil)),
		"no typ":             signWith(real, jose.ES256, kid, "", claims(nil)),
		"real key, no kid":   signWith(real, jose.ES256, "", "at+jwt", claims(nil)),
		"no sid":             signWith(real, jose.ES256, kid, "at+jwt", claims(func(c *token.Claims) { c.SessionID = "" })),
		"sub not a user":     signWith(real, jose.ES256, kid, "at+jwt", claims(func(c *token.Claims) { c.Subject = "root" })),
		"ES384":              signWith(p384, jose.ES384, kid, "at+jwt", claims(nil)),
		"wrong iss":          signWith(real, jose.ES256, kid, "at+jwt", claims(func(c *token.Claims) { c.Issuer = "https://evil" })),
		"tampered":           parts[0] + "." + b64(claims(func(c *token.Claims) { c.Subject = "1" })) + "." + parts[2],
		"empty":              "",
		"garbage":            "a.b.c",
		"oversized":          parts[0] + "." + strings.Repeat("A", token.MaxLen) + "." + parts[2],
		"no signature":       parts[0] + "." + parts[1] + ".",
	}
	for name, raw := range cases {
		if _, err := i.Verify(t.Context(), raw, iss); !errors.Is(err, token.ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := i.Verify(t.Context(), signWith(real, jose.ES256, kid, "at+jwt", claims(nil)), iss); err != nil {
		t.Fatalf("the control token is refused: %v", err)
	}
	if _, err := i.Verify(t.Context(), good, "https://other.example"); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("wrong aud: %v", err)
	}
	// Wrong iss: signed by this issuer's own key by another issuer with the same database.
	c.advance(6 * time.Minute)
	if _, err := i.Verify(t.Context(), good, iss); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("expired: %v", err)
	}
}

func TestWrongIssuer(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	keys := secret.Generate()
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	store, _ := token.NewKeyStore(db, keys)
	a := newIssuer(t, db, keys, c)
	b, err := token.New(t.Context(), store, token.Config{Issuer: "https://evil.example", Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	raw, _, _ := b.Sign(t.Context(), 1, "s", "", iss, "")
	if _, err := a.Verify(t.Context(), raw, iss); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("wrong iss: %v", err)
	}
}

// T7: a rotation keeps live tokens valid and their key published until
// they have expired; a second instance on the same database signs with
// the same keys and verifies the first's tokens.
func TestRotationAndTwoInstances(t *testing.T) {
	t.Parallel()
	a, db, keys, c := setup(t)
	b := newIssuer(t, db, keys, c)
	if a.JWKS(t.Context()).Keys[0].KeyID != b.JWKS(t.Context()).Keys[0].KeyID {
		t.Fatal("two instances created two keys")
	}
	old, _, _ := a.Sign(t.Context(), 1, "s", "", iss, "")
	if _, err := b.Verify(t.Context(), old, iss); err != nil {
		t.Fatalf("b verifying a's token: %v", err)
	}
	store, _ := token.NewKeyStore(db, keys)
	if _, err := store.Rotate(t.Context(), c.now()); err != nil { // authd token keys rotate
		t.Fatal(err)
	}
	c.advance(61 * time.Second) // past ReloadEvery: both see the new key
	fresh, _, _ := b.Sign(t.Context(), 1, "s", "", iss, "")
	if _, err := a.Verify(t.Context(), fresh, iss); err != nil {
		t.Errorf("a verifying b's token with the new key: %v", err)
	}
	if _, err := a.Verify(t.Context(), old, iss); err != nil {
		t.Errorf("live token after rotation: %v", err)
	}
	if n := len(a.JWKS(t.Context()).Keys); n != 2 {
		t.Errorf("JWKS has %d keys right after rotation, want 2", n)
	}
	c.advance(6*time.Minute + 10*time.Second)
	if n := len(a.JWKS(t.Context()).Keys); n != 1 {
		t.Errorf("JWKS has %d keys after the old key's tokens expired, want 1", n)
	}
	// Another master key cannot open the keys.
	if _, err := token.NewKeyStore(db, secret.Generate()); err != nil {
		t.Fatal(err)
	}
	other, _ := token.NewKeyStore(db, secret.Generate())
	if _, err := other.List(t.Context()); err == nil {
		t.Error("keys opened with another master key")
	}
}

// T5: a second JOSE library verifies from the JWKS alone: golang-jwt/v5,
// with the JWK read by hand.
func TestSecondLibraryVerifies(t *testing.T) {
	t.Parallel()
	i, _, _, _ := setup(t)
	raw, _, _ := i.Sign(t.Context(), 7, "s", "", iss, "")
	set, _ := json.Marshal(i.JWKS(context.Background()))
	var jwks struct {
		Keys []struct{ Kty, Crv, X, Y, Kid, Alg string } `json:"keys"`
	}
	if err := json.Unmarshal(set, &jwks); err != nil {
		t.Fatal(err)
	}
	parsed, err := gjwt.Parse(raw, func(tk *gjwt.Token) (any, error) {
		if tk.Header["typ"] != "at+jwt" {
			return nil, errors.New("typ")
		}
		for _, k := range jwks.Keys {
			if k.Kid == tk.Header["kid"] && k.Kty == "EC" && k.Crv == "P-256" {
				x, _ := base64.RawURLEncoding.DecodeString(k.X)
				y, _ := base64.RawURLEncoding.DecodeString(k.Y)
				return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}, nil
			}
		}
		return nil, errors.New("no key")
	}, gjwt.WithValidMethods([]string{"ES256"}), gjwt.WithIssuer(iss), gjwt.WithAudience(iss), gjwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt: %v", err)
	}
	if sub, _ := parsed.Claims.GetSubject(); sub != "7" {
		t.Errorf("sub %q", sub)
	}
}

func BenchmarkSign(b *testing.B) {
	i, _, _, _ := setup(b)
	for b.Loop() {
		if _, _, err := i.Sign(b.Context(), 1, "s", "", iss, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	i, _, _, _ := setup(b)
	raw, _, _ := i.Sign(b.Context(), 1, "s", "", iss, "")
	for b.Loop() {
		if _, err := i.Verify(b.Context(), raw, iss); err != nil {
			b.Fatal(err)
		}
	}
}
