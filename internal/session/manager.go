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
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"
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
	// Lifetime is the absolute cap: a session ends this long after sign-in
	// whatever its activity.
	Lifetime time.Duration
	// IdleTimeout ends a session unused for this long.
	IdleTimeout time.Duration
	// RefreshInterval is how often activity is written to Redis. A session
	// therefore ends between IdleTimeout-RefreshInterval and IdleTimeout after
	// its last use; it never outlives IdleTimeout. Zero means IdleTimeout/30,
	// at most one minute.
	RefreshInterval time.Duration
	// CookieSecure sets the cookie's Secure attribute (TLS, directly or at a proxy).
	CookieSecure bool
	// CookieDomain sets the cookie's Domain attribute; empty means host-only.
	CookieDomain string
	// KeyPrefix prefixes every Redis key, e.g. "authd:session:".
	KeyPrefix string
}

// Info describes the signed-in session of a request.
type Info struct {
	UserID int64
	// Name is the user's display name, kept in the session so that pages
	// which only show it need no database query.
	Name       string
	SignedInAt time.Time
	// Expires is when the session ends if unused: the earlier of the idle
	// and the absolute deadline.
	Expires time.Time
}

// Manager loads, checks, creates and destroys sessions.
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
)

// NewManager returns a Manager storing sessions in pool's Redis.
func NewManager(pool *redis.Pool, cfg Config, log *slog.Logger) (*Manager, error) {
	if cfg.Lifetime <= 0 || cfg.IdleTimeout <= 0 {
		return nil, errors.New("session: lifetime and idle timeout must be positive")
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = min(time.Minute, cfg.IdleTimeout/30)
	}
	if cfg.RefreshInterval >= cfg.IdleTimeout {
		return nil, errors.New("session: refresh interval must be shorter than the idle timeout")
	}
	store := NewStore(pool, cfg.KeyPrefix)
	sm := scs.New()
	sm.Store = store
	sm.Lifetime = cfg.Lifetime
	// With IdleTimeout set, scs gives each commit a Redis expiry of
	// min(absolute deadline, now+IdleTimeout). Its habit of rewriting the
	// session on every request only applies to scs.LoadAndSave, which this
	// package does not use.
	sm.IdleTimeout = cfg.IdleTimeout
	sm.HashTokenInStore = true
	sm.Cookie.Name = CookieName
	return &Manager{scs: sm, store: store, cfg: cfg, log: log}, nil
}

// state is what Middleware learnt about the request's session.
type state struct {
	info     Info
	signedIn bool
	err      error // wraps ErrUnavailable when the store failed
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

// SignIn starts a session for the user under a new token, deleting the
// request's previous session if any (no fixation: a token known before
// sign-in is worthless after it), and sets the cookie. It must run inside
// Middleware.
func (m *Manager) SignIn(ctx context.Context, w http.ResponseWriter, userID int64, name string) error {
	if st := stateFrom(ctx); st.err != nil {
		// The request's own session could not be loaded, so it could not be
		// deleted either: signing in now could leave it alive beside the new one.
		return st.err
	}
	if err := m.scs.RenewToken(ctx); err != nil {
		return m.storeErr("renew token", err)
	}
	if err := m.scs.Clear(ctx); err != nil {
		return m.storeErr("clear", err)
	}
	now := time.Now()
	m.scs.Put(ctx, keyUserID, userID)
	m.scs.Put(ctx, keyName, name)
	m.scs.Put(ctx, keySignedIn, now.UnixMilli())
	m.scs.Put(ctx, keySeen, now.UnixMilli())
	token, _, err := m.scs.Commit(withCreate(ctx))
	if err != nil {
		return m.storeErr("commit", err)
	}
	deadline := m.scs.Deadline(ctx)
	m.writeCookie(w, token, deadline)

	st := stateFrom(ctx)
	st.signedIn, st.err = true, nil
	st.info = Info{UserID: userID, Name: name, SignedInAt: now, Expires: m.expires(now, deadline)}
	return nil
}

// SignOut deletes the request's session from Redis and clears the cookie.
// Replaying the old token afterwards finds nothing.
func (m *Manager) SignOut(ctx context.Context, w http.ResponseWriter) error {
	if m.scs.Token(ctx) != "" {
		if err := m.scs.Destroy(ctx); err != nil {
			return m.storeErr("destroy", err)
		}
	}
	m.writeCookie(w, "", time.Time{})
	st := stateFrom(ctx)
	st.signedIn, st.info = false, Info{}
	return nil
}

func (m *Manager) expires(seen, deadline time.Time) time.Time {
	idle := seen.Add(m.cfg.IdleTimeout)
	if idle.Before(deadline) {
		return idle
	}
	return deadline
}

// writeCookie sets the session cookie; an empty token deletes it.
func (m *Manager) writeCookie(w http.ResponseWriter, token string, expires time.Time) {
	c := &http.Cookie{
		Name:     CookieName,
		Value:    token,
		Path:     "/",
		Domain:   m.cfg.CookieDomain,
		HttpOnly: true,
		Secure:   m.cfg.CookieSecure,
		SameSite: http.SameSiteLaxMode,
	}
	if token == "" {
		c.MaxAge = -1
	} else {
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
