// Package session keeps signed-in sessions in Redis with scs.
//
// The cookie (or an Authorization: Bearer header) carries only an opaque
// 256-bit random token; Redis holds the session under the token's SHA-256.
// Three rules make sign-out final:
//
//   - sessions are written only when they change (sign-in) or, at most once
//     per refresh interval, to push the idle deadline forward;
//   - such a refresh is an update that succeeds only while the record exists,
//     so a request in flight cannot resurrect a session that was signed out,
//     renewed or revoked in the meantime;
//   - the idle and absolute deadlines are checked on every request, besides
//     being the record's expiry in Redis.
//
// Each user's sessions are also indexed in Redis (index.go), so that they
// can be listed and revoked, one, all but the current, or all after a
// password change, without scanning the keyspace (revoke.go).
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/sessionauth/authd/internal/clientip"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/useragent"
)

// Errors reported by Manager.Current.
var (
	// ErrSignedOut: the request carries no live session.
	ErrSignedOut = errors.New("session: signed out")
	// ErrUnavailable: the session store could not be reached, so whether the
	// request is signed in is unknown.
	ErrUnavailable = errors.New("session: store unavailable")
)

// CookieName is the name of the session cookie.
const CookieName = "session_id"

// Config sets the session clocks and cookie.
type Config struct {
	// Lifetime is the absolute cap of an ordinary session: it ends this long
	// after sign-in whatever its activity.
	Lifetime time.Duration
	// IdleTimeout ends an ordinary session unused for this long.
	IdleTimeout time.Duration
	// RememberLifetime and RememberIdleTimeout replace Lifetime and
	// IdleTimeout for a sign-in that asked to be kept signed in; such a
	// session also gets a persistent cookie instead of one that ends with
	// the browser. RememberLifetime zero disables the choice.
	RememberLifetime    time.Duration
	RememberIdleTimeout time.Duration
	// RefreshInterval is how often activity is written to Redis. A session
	// therefore ends between IdleTimeout-RefreshInterval and IdleTimeout after
	// its last use; it never outlives IdleTimeout. Zero means IdleTimeout/30,
	// at most one minute.
	RefreshInterval time.Duration
	// MaxSessions, when positive, caps each user's live sessions: a sign-in
	// beyond it ends the user's oldest session.
	MaxSessions int
	// CookieSecure sets the cookie's Secure attribute (TLS, directly or at a proxy).
	CookieSecure bool
	// CookieDomain sets the cookie's Domain attribute; empty means host-only.
	CookieDomain string
	// CookieName names the cookie; empty means CookieName. A name with the
	// "__Host-" prefix makes browsers refuse the cookie unless it is
	// Secure, host-only and for Path=/, so no sibling subdomain can plant one.
	CookieName string
	// KeyPrefix prefixes every Redis key, e.g. "authd:session:".
	KeyPrefix string
	// ClientAddr returns a request's client address, shown in session
	// lists. Nil means the connection's peer address.
	ClientAddr func(*http.Request) string
	// ReplicaAckTimeout bounds how long a write that ends sessions (sign-out,
	// revocations, a password change) waits for the primary's replicas to
	// acknowledge it (durable.go). Zero means DefaultReplicaAckTimeout;
	// negative turns the wait off.
	ReplicaAckTimeout time.Duration
	// OnReplicaAckMissed, when set, is called with the operation ("sign_out",
	// "sign_in" (ending the request's previous session), "revoke",
	// "revoke_others", "revoke_all") each time no replica
	// acknowledged such a write in time.
	OnReplicaAckMissed func(op string)
	// TokenIdleTimeout and TokenLifetime are the clocks of token sessions
	// (OAuth clients, token.go): zero means 30 days and 90 days.
	TokenIdleTimeout time.Duration
	TokenLifetime    time.Duration
	// RefreshGrace is how long a rotated refresh token still answers with
	// its family's current tokens (two tabs, a lost response); zero means
	// 10 seconds.
	RefreshGrace time.Duration
	// Now is the clock of the refresh grace window; nil means time.Now.
	Now func() time.Time
}

// Info describes the signed-in session of a request.
type Info struct {
	// ID is the session's public id: shown in session lists, used to revoke
	// it, and handed to other services (forward-auth headers, a JWT's sid).
	// It is derived from the token but is no credential.
	ID     string
	UserID int64
	// Name is the user's display name, kept in the session so that pages
	// which only show it need no database query.
	Name       string
	SignedInAt time.Time
	// Expires is when the session ends if unused: the earlier of the idle
	// and the absolute deadline.
	Expires time.Time
	// Remember: the user asked to be kept signed in.
	Remember bool
	// ClientAddr and UserAgent are where the session was last refreshed
	// from; UserAgent is a short summary such as "Firefox on Linux".
	ClientAddr string
	UserAgent  string
	// Methods say how the session authenticated, in the spirit of OpenID's
	// amr claim: "pwd", "otp", "hwk" (a passkey), "rec" (a recovery code).
	Methods []string
	// AuthAt is when the session last authenticated: its sign-in, or a
	// later confirmation of the password or a factor (step-up).
	AuthAt time.Time
	// Pending: the password was right, the second factor is still due.
	// A pending session is not signed in: Current refuses it.
	Pending bool
	// Kind is KindBrowser or KindAPI (a token session); ClientID is an API
	// session's OAuth client_id, if the client named one.
	Kind     string
	ClientID string
}

// Grant is what SignIn needs to start a session.
type Grant struct {
	UserID int64
	Name   string
	// Epoch is the user's credential epoch as read with the password hash
	// that was just checked.
	Epoch    int64
	Remember bool
	// Methods are how the user authenticated (Info.Methods).
	Methods []string
	// AuthAt is when (Info.AuthAt); zero means now.
	AuthAt time.Time
	// Pending starts a session that waits for the second factor: it lives
	// PendingLifetime at most and is not signed in (Manager.Pending).
	Pending bool
}

// PendingLifetime is how long a session waiting for its second factor lives.
const PendingLifetime = 5 * time.Minute

// Manager loads, checks, creates, lists and revokes sessions.
type Manager struct {
	scs   *scs.SessionManager
	store *Store
	cfg   Config
	log   *slog.Logger
}

// Keys of the values stored in a session record.
const (
	keyUserID   = "uid"
	keyName     = "name"
	keySignedIn = "auth" // unix milliseconds
	keySeen     = "seen" // unix milliseconds of the last refresh
	keyEpoch    = "ep"
	keyIdle     = "idle" // this session's idle timeout, milliseconds
	keyRemember = "rem"
	keyAddr     = "addr"
	keyAgent    = "ua"
	keyPending  = "pend"
	keyMethods  = "amr"  // space-separated
	keyAuthAt   = "at"   // unix milliseconds of the last authentication
	keyKind     = "kind" // KindAPI for token sessions; absent for browser sessions
	keyClient   = "cid"  // a token session's OAuth client_id
)

// NewManager returns a Manager storing sessions in conns' Redis.
func NewManager(conns redispool.Source, cfg Config, log *slog.Logger) (*Manager, error) {
	if cfg.Lifetime <= 0 || cfg.IdleTimeout <= 0 {
		return nil, errors.New("session: lifetime and idle timeout must be positive")
	}
	if cfg.RememberLifetime > 0 {
		if cfg.RememberLifetime < cfg.Lifetime {
			return nil, errors.New("session: remember lifetime must not be shorter than the lifetime")
		}
		if cfg.RememberIdleTimeout <= 0 {
			cfg.RememberIdleTimeout = cfg.IdleTimeout
		}
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = min(time.Minute, cfg.IdleTimeout/30)
	}
	if cfg.RefreshInterval >= cfg.IdleTimeout {
		return nil, errors.New("session: refresh interval must be shorter than the idle timeout")
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = clientip.Peer
	}
	if cfg.ReplicaAckTimeout == 0 {
		cfg.ReplicaAckTimeout = DefaultReplicaAckTimeout
	}
	if cfg.TokenIdleTimeout <= 0 {
		cfg.TokenIdleTimeout = 30 * 24 * time.Hour
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = 90 * 24 * time.Hour
	}
	if cfg.TokenIdleTimeout > cfg.TokenLifetime {
		return nil, errors.New("session: token idle timeout must not exceed the token lifetime")
	}
	if cfg.RefreshGrace <= 0 {
		cfg.RefreshGrace = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	store := NewStore(conns, cfg.KeyPrefix)
	store.ackTimeout = cfg.ReplicaAckTimeout
	sm := scs.New()
	sm.Store = store
	sm.Lifetime = cfg.Lifetime
	// scs's IdleTimeout stays zero: it is one value for all sessions, and
	// with it scs.LoadAndSave would rewrite the record on every request.
	// Each commit here passes the session's own idle deadline to the store.
	sm.HashTokenInStore = true
	sm.Codec = Codec{}
	sm.Cookie.Name = CookieName
	return &Manager{scs: sm, store: store, cfg: cfg, log: log}, nil
}

// idleTimeout is a session's idle timeout from its record (milliseconds),
// the ordinary one if the record has none.
func (m *Manager) idleTimeout(ms int64) time.Duration {
	if ms <= 0 {
		return m.cfg.IdleTimeout
	}
	return time.Duration(ms) * time.Millisecond
}

// maxLifetime is the longest any session can live.
func (m *Manager) maxLifetime() time.Duration {
	return max(m.cfg.Lifetime, m.cfg.RememberLifetime, m.cfg.TokenLifetime)
}

// state is what Middleware learnt about the request's session.
type state struct {
	info     Info
	signedIn bool
	pending  bool      // info is a session waiting for its second factor
	ended    EndReason // why the presented token no longer works
	// viaAccessToken: the session was named by an access token (UseSession),
	// not by a session token of this request.
	viaAccessToken bool
	err            error // wraps ErrUnavailable when the store failed
}

type stateKey struct{}

func stateFrom(ctx context.Context) *state {
	if st, ok := ctx.Value(stateKey{}).(*state); ok {
		return st
	}
	return &state{}
}

// Current returns the request's session. The error is ErrSignedOut when
// there is none, and wraps ErrUnavailable when Redis could not be asked.
func (m *Manager) Current(ctx context.Context) (Info, error) {
	st := stateFrom(ctx)
	switch {
	case st.err != nil:
		return Info{}, st.err
	case !st.signedIn:
		return Info{}, ErrSignedOut
	}
	return st.info, nil
}

// Pending returns the request's session when it waits for its second
// factor: the password step passed, and nothing is signed in yet.
func (m *Manager) Pending(ctx context.Context) (Info, bool) {
	st := stateFrom(ctx)
	if st.err != nil || !st.pending {
		return Info{}, false
	}
	return st.info, true
}

// EndReason tells why the token the request presented no longer names a
// live session (EndNone when it presented none, or a live one), so that a
// device whose session was ended elsewhere can be told so. A stranger with
// no cookie learns nothing; one with a made-up token learns "expired".
func (m *Manager) EndReason(ctx context.Context) EndReason {
	return stateFrom(ctx).ended
}

// SignIn starts a session for the user under a new token, deleting the
// request's previous session if any (no fixation: a token known before
// sign-in is worthless after it), and sets the cookie. It must run inside
// Middleware. It fails with ErrCredentialsChanged when the user's password
// changed after g.Epoch was read. It returns how many of the user's oldest
// sessions the MaxSessions cap ended.
func (m *Manager) SignIn(w http.ResponseWriter, r *http.Request, g Grant) (evicted int, err error) {
	ctx := r.Context()
	if st := stateFrom(ctx); st.err != nil {
		// The request's own session could not be loaded, so it could not be
		// deleted either: signing in now could leave it alive beside the new one.
		return 0, st.err
	}
	if st := stateFrom(ctx); st.signedIn || st.pending {
		// End the request's own session with its index entry; scs's
		// RenewToken would delete only the record.
		ack, err := m.store.end(ctx, st.info.UserID, st.info.ID)
		if err != nil {
			return 0, m.storeErr("end previous session", err)
		}
		m.ackMissed(ctx, "sign_in", st.info.UserID, ack)
	}
	if err := m.newToken(ctx, userTag(g.UserID)); err != nil {
		return 0, err
	}
	if err := m.scs.Clear(ctx); err != nil {
		return 0, m.storeErr("clear", err)
	}
	lifetime, idle := m.cfg.Lifetime, m.cfg.IdleTimeout
	remember := g.Remember && m.cfg.RememberLifetime > 0
	if remember {
		lifetime, idle = m.cfg.RememberLifetime, m.cfg.RememberIdleTimeout
	}
	if g.Pending {
		lifetime, idle = min(lifetime, PendingLifetime), min(idle, PendingLifetime)
	}
	now := time.Now()
	deadline := now.Add(lifetime)
	addr, agent := m.cfg.ClientAddr(r), useragent.Summary(r.UserAgent())
	m.scs.SetDeadline(ctx, deadline)
	m.scs.Put(ctx, keyUserID, g.UserID)
	m.scs.Put(ctx, keyName, g.Name)
	m.scs.Put(ctx, keySignedIn, now.UnixMilli())
	m.scs.Put(ctx, keySeen, now.UnixMilli())
	m.scs.Put(ctx, keyEpoch, g.Epoch)
	m.scs.Put(ctx, keyIdle, idle.Milliseconds())
	m.scs.Put(ctx, keyRemember, remember)
	m.scs.Put(ctx, keyAddr, addr)
	m.scs.Put(ctx, keyAgent, agent)
	if g.Pending {
		m.scs.Put(ctx, keyPending, true)
	}
	m.scs.Put(ctx, keyMethods, strings.Join(g.Methods, " "))
	authAt := g.AuthAt
	if authAt.IsZero() {
		authAt = now
	}
	m.scs.Put(ctx, keyAuthAt, authAt.UnixMilli())
	create := &createOpts{
		userID:      g.UserID,
		epoch:       g.Epoch,
		created:     now,
		maxSessions: m.cfg.MaxSessions,
	}
	token, _, err := m.scs.Commit(withCommit(ctx, commitOpts{idleExpiry: now.Add(idle), create: create}))
	if err != nil {
		if errors.Is(err, ErrCredentialsChanged) {
			return 0, err
		}
		return 0, m.storeErr("commit", err)
	}
	m.writeCookie(w, token, deadline, remember)

	st := stateFrom(ctx)
	st.signedIn, st.pending, st.err, st.ended = !g.Pending, g.Pending, nil, EndNone
	st.info = Info{
		ID: tokenID(token), UserID: g.UserID, Name: g.Name,
		SignedInAt: now, Expires: earliest(now.Add(idle), deadline),
		Remember: remember, ClientAddr: addr, UserAgent: agent,
		Methods: slices.Clone(g.Methods), Pending: g.Pending, AuthAt: authAt,
	}
	return create.evicted, nil
}

// newToken gives ctx's session a fresh token whose id carries tag, the
// hash tag of its user's keys (keys.go). scs draws the tokens; each draw is
// 256 random bits, and about one in 256 has the tag. None of the discarded
// draws was ever stored, so scs's delete of the previous token is skipped.
func (m *Manager) newToken(ctx context.Context, tag string) error {
	quiet := withoutDelete(ctx)
	for range 1 << 16 { // a miss this long is a broken random source (p < 1e-110)
		if err := m.scs.RenewToken(quiet); err != nil {
			return m.storeErr("renew token", err)
		}
		if id := tokenID(m.scs.Token(ctx)); id[:2] == tag {
			return nil
		}
	}
	return errors.New("session: no token with the user's tag was drawn")
}

// SignOut ends the request's session: the record and its index entry go
// in one step, and the cookie is cleared (with Clear-Site-Data, so the
// browser also drops what the site stored). Replaying the old token
// afterwards finds nothing.
func (m *Manager) SignOut(ctx context.Context, w http.ResponseWriter) error {
	st := stateFrom(ctx)
	if st.signedIn || st.pending {
		ack, err := m.store.end(ctx, st.info.UserID, st.info.ID)
		if err != nil {
			return m.storeErr("end session", err)
		}
		m.ackMissed(ctx, "sign_out", st.info.UserID, ack)
	}
	if m.scs.Token(ctx) != "" {
		// Resets scs's copy, so nothing is committed later; the record is gone.
		if err := m.scs.Destroy(withoutDelete(ctx)); err != nil {
			return m.storeErr("destroy", err)
		}
	}
	m.ClearCookie(w)
	st.signedIn, st.pending, st.info = false, false, Info{}
	return nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// writeCookie sets the session cookie; an empty token deletes it. Only a
// remembered session's cookie outlives the browser.
func (m *Manager) writeCookie(w http.ResponseWriter, token string, expires time.Time, persistent bool) {
	c := &http.Cookie{
		Name:     m.CookieName(),
		Value:    token,
		Path:     "/",
		Domain:   m.cfg.CookieDomain,
		HttpOnly: true,
		Secure:   m.cfg.CookieSecure,
		SameSite: http.SameSiteLaxMode,
	}
	switch {
	case token == "":
		c.MaxAge = -1
	case persistent:
		c.Expires = expires.UTC().Truncate(time.Second).Add(time.Second)
		c.MaxAge = int(time.Until(expires).Seconds()) + 1
	}
	http.SetCookie(w, c)
}

func (m *Manager) storeErr(op string, err error) error {
	if errors.Is(err, errStore) {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return fmt.Errorf("session: %s: %w", op, err)
}
