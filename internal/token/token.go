// Package token issues and verifies access tokens: JWTs in the RFC 9068
// profile (header typ at+jwt and kid; claims iss, sub, aud, exp, iat, jti,
// sid, client_id), signed ES256 with keys kept in the SQL database
// (keys.go) and published as a JWKS.
//
// The JOSE work is go-jose/v4: maintained, used by most Go OIDC code, and
// it makes the caller name the accepted algorithms when parsing, so that
// alg=none and HMAC-with-the-public-key are refused before any key is
// looked at. ES256 rather than Ed25519 because every JOSE library and
// platform keystore (Android, iOS, WebCrypto) verifies it.
//
// A JWT says who its holder is until exp; whether its session is still
// live is the caller's question (session.Manager.Live, one Redis read),
// which authd asks wherever it accepts a JWT. A third party that verifies
// offline from the JWKS accepts a token until its exp.
package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Type is the typ header of an access token (RFC 9068 §2.1).
const Type = "at+jwt"

// MaxLen bounds the length of a token accepted for verification.
const MaxLen = 4096

// leeway is the clock skew allowed between instances for exp, nbf and iat.
const leeway = 5 * time.Second

// ErrInvalid: the token is malformed, not an access token of this issuer
// for this audience, signed by no published key, or expired.
var ErrInvalid = errors.New("token: invalid access token")

// Config sets the issuer.
type Config struct {
	// Issuer is the iss claim: authd's public URL. It is also the audience
	// of the tokens authd's own API accepts.
	Issuer string
	// Lifetime of an access token; zero means 5 minutes.
	Lifetime time.Duration
	// RotateEvery, when positive, makes Load add a new key once the
	// signing key is this old.
	RotateEvery time.Duration
	// ReloadEvery is how often the keys are read again from the database,
	// so that a rotation by another instance or the CLI is seen; zero means
	// one minute. An unknown kid also triggers a reload, at most every 10 s.
	ReloadEvery time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Claims are the claims of an access token.
type Claims struct {
	jwt.Claims
	SessionID string `json:"sid"`
	ClientID  string `json:"client_id,omitempty"`
	Scope     string `json:"scope,omitempty"`
	// AMR says how the session authenticated (RFC 8176 values: "pwd",
	// "otp", "hwk"; and "rec" for a recovery code), as OpenID Connect's
	// ID tokens carry it.
	AMR []string `json:"amr,omitempty"`
}

// UserID is the user id in sub.
func (c Claims) UserID() int64 {
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// Issuer signs and verifies access tokens. It is safe for concurrent use.
type Issuer struct {
	cfg   Config
	store *KeyStore

	mu       sync.RWMutex
	keys     []Key // newest first
	signer   jose.Signer
	loadedAt time.Time
	missAt   time.Time // last reload because of an unknown kid
}

// New returns an issuer with the keys in store, creating the first key
// when there is none.
func New(ctx context.Context, store *KeyStore, cfg Config) (*Issuer, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("token: an issuer is required")
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 5 * time.Minute
	}
	if cfg.ReloadEvery <= 0 {
		cfg.ReloadEvery = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	i := &Issuer{cfg: cfg, store: store}
	if err := i.Load(ctx); err != nil {
		return nil, err
	}
	return i, nil
}

// Lifetime is the lifetime of the tokens it signs.
func (i *Issuer) Lifetime() time.Duration { return i.cfg.Lifetime }

// IssuerURL is the iss claim.
func (i *Issuer) IssuerURL() string { return i.cfg.Issuer }

// Load reads the keys from the database, adding one first when there is
// none or the signing key is due for rotation.
func (i *Issuer) Load(ctx context.Context) error {
	now := i.cfg.Now()
	keys, err := i.store.List(ctx)
	if err != nil {
		return err
	}
	if len(keys) == 0 || i.cfg.RotateEvery > 0 && now.Sub(keys[0].CreatedAt) >= i.cfg.RotateEvery {
		if _, err := i.store.Rotate(ctx, now); err != nil {
			return err
		}
		if keys, err = i.store.List(ctx); err != nil {
			return err
		}
		if _, err := i.store.Prune(ctx, now.Add(-i.retention())); err != nil {
			return err
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: keys[0].Private, KeyID: keys[0].ID}},
		(&jose.SignerOptions{}).WithType(Type))
	if err != nil {
		return fmt.Errorf("token: signer: %w", err)
	}
	i.mu.Lock()
	i.keys, i.signer, i.loadedAt = keys, signer, now
	i.mu.Unlock()
	return nil
}

// retention is how long a retired key stays published: a token signed
// with it just before it was retired, on an instance that had not yet
// reloaded, must still verify until it expires.
func (i *Issuer) retention() time.Duration {
	return i.cfg.Lifetime + i.cfg.ReloadEvery + leeway
}

// maybeReload reloads when the keys are older than ReloadEvery; on
// failure the keys in memory stay in use.
func (i *Issuer) maybeReload(ctx context.Context) {
	i.mu.RLock()
	stale := i.cfg.Now().Sub(i.loadedAt) >= i.cfg.ReloadEvery
	i.mu.RUnlock()
	if stale {
		_ = i.Load(ctx)
	}
}

// Sign returns a signed access token for the session sid of user uid,
// for audience aud, with its claims; amr says how the session authenticated.
func (i *Issuer) Sign(ctx context.Context, uid int64, sid, clientID, aud, scope string, amr ...string) (string, Claims, error) {
	i.maybeReload(ctx)
	now := i.cfg.Now()
	jti := make([]byte, 16)
	rand.Read(jti)
	c := Claims{
		Claims: jwt.Claims{
			Issuer: i.cfg.Issuer, Subject: strconv.FormatInt(uid, 10), Audience: jwt.Audience{aud},
			Expiry: jwt.NewNumericDate(now.Add(i.cfg.Lifetime)), IssuedAt: jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now), ID: base64.RawURLEncoding.EncodeToString(jti),
		},
		SessionID: sid, ClientID: clientID, Scope: scope, AMR: amr,
	}
	i.mu.RLock()
	signer := i.signer
	i.mu.RUnlock()
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: sign: %w", err)
	}
	return raw, c, nil
}

// Verify checks raw as an access token of this issuer for audience aud
// (any audience when aud is empty: introspection, revocation) and returns
// its claims. Every failure is ErrInvalid (wrapped with why).
func (i *Issuer) Verify(ctx context.Context, raw, aud string) (Claims, error) {
	if len(raw) > MaxLen || strings.Count(raw, ".") != 2 {
		return Claims{}, fmt.Errorf("%w: not a compact JWS", ErrInvalid)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(tok.Headers) != 1 {
		return Claims{}, fmt.Errorf("%w: one signature expected", ErrInvalid)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, Type) && !strings.EqualFold(typ, "application/"+Type) {
		return Claims{}, fmt.Errorf("%w: typ %q", ErrInvalid, typ)
	}
	pub := i.publicKey(ctx, h.KeyID)
	if pub == nil {
		return Claims{}, fmt.Errorf("%w: unknown kid", ErrInvalid)
	}
	var c Claims
	if err := tok.Claims(pub, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	want := jwt.Expected{Issuer: i.cfg.Issuer, Time: i.cfg.Now()}
	if aud != "" {
		want.AnyAudience = jwt.Audience{aud}
	}
	if err := c.Claims.ValidateWithLeeway(want, leeway); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.Expiry == nil || c.IssuedAt == nil || c.ID == "" || c.SessionID == "" || c.UserID() == 0 {
		return Claims{}, fmt.Errorf("%w: a required claim is missing", ErrInvalid)
	}
	return c, nil
}

// publicKey returns the published key kid, reloading once when it is
// unknown (another instance may have rotated), at most every 10 s so that
// made-up kids cannot make every request query the database.
func (i *Issuer) publicKey(ctx context.Context, kid string) *ecdsa.PublicKey {
	if kid == "" || len(kid) > 128 {
		return nil
	}
	if k := i.published(kid); k != nil {
		return k
	}
	now := i.cfg.Now()
	i.mu.Lock()
	retry := now.Sub(i.missAt) >= 10*time.Second
	if retry {
		i.missAt = now
	}
	i.mu.Unlock()
	if !retry || i.Load(ctx) != nil {
		return nil
	}
	return i.published(kid)
}

func (i *Issuer) published(kid string) *ecdsa.PublicKey {
	i.mu.RLock()
	defer i.mu.RUnlock()
	for _, k := range i.publishedLocked() {
		if k.ID == kid {
			return &k.Private.PublicKey
		}
	}
	return nil
}

func (i *Issuer) publishedLocked() []Key {
	now := i.cfg.Now()
	return slices.DeleteFunc(slices.Clone(i.keys), func(k Key) bool {
		return !k.RetiredAt.IsZero() && now.Sub(k.RetiredAt) > i.retention()
	})
}

// JWKS is the JSON Web Key Set of the published public keys.
func (i *Issuer) JWKS(ctx context.Context) jose.JSONWebKeySet {
	i.maybeReload(ctx)
	i.mu.RLock()
	defer i.mu.RUnlock()
	var set jose.JSONWebKeySet
	for _, k := range i.publishedLocked() {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.Private.PublicKey, KeyID: k.ID, Algorithm: string(jose.ES256), Use: "sig"})
	}
	return set
}
