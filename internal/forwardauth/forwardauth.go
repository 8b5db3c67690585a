// Package forwardauth is what authd needs to guard other apps behind a
// reverse proxy: nginx (auth_request), Caddy (forward_auth) and Traefik
// (forwardAuth) ask authd about every request, and authd answers from the
// session, the access rules and the user's groups.
//
// The package reads the proxies' description of the original request
// (target.go), checks the URL a sign-in returns to (returnurl.go), keeps
// users' groups in memory for a short while (groups.go), and holds the
// access rules, which a reload may replace while requests are served. The
// HTTP handlers are in internal/server (forwardauth.go).
package forwardauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sessionauth/authd/internal/access"
	"github.com/sessionauth/authd/internal/group"
)

// Headers are the names of the identity headers of a verify answer, which
// the proxy copies onto the request it forwards to the app.
type Headers struct {
	User, Name, Groups, Session string
}

// DefaultHeaders are Authelia's names, which many apps already read.
var DefaultHeaders = Headers{User: "Remote-User", Name: "Remote-Name", Groups: "Remote-Groups", Session: "Remote-Session"}

// Config configures a Guard.
type Config struct {
	// PublicURL is authd's address as browsers reach it, e.g.
	// https://auth.example.com. Signed-out browsers are sent to its
	// /login; without it they get 401 and no redirect.
	PublicURL string
	// CookieDomain and CookieSecure are the session cookie's: a sign-in
	// may return to the cookie domain and any host below it (https only
	// when the cookie is Secure).
	CookieDomain string
	CookieSecure bool
	// ReturnOrigins are further origins a sign-in may return to,
	// "https://app.example.org" or "https://*.example.org".
	ReturnOrigins []string
	// Headers names the identity headers; empty names take the defaults.
	Headers Headers
	// GroupsTTL is how long a user's groups are kept in memory (0: read
	// from the database on every request).
	GroupsTTL time.Duration
	// Now is the clock of the group cache; nil means time.Now.
	Now func() time.Time
}

// Guard holds what the verify endpoints need besides the session.
type Guard struct {
	rules   atomic.Pointer[access.Rules]
	returns []origin
	signIn  string // PublicURL + "/login", or ""
	headers Headers
	groups  *groupCache
}

// New returns a Guard without rules (every signed-in user passes
// everywhere) until SetRules is called.
func New(cfg Config, groups *group.Store) (*Guard, error) {
	if groups == nil {
		return nil, errors.New("forwardauth: a group store is required")
	}
	var public *url.URL
	if cfg.PublicURL != "" {
		u, err := CheckPublicURL(cfg.PublicURL)
		if err != nil {
			return nil, err
		}
		public = u
	}
	returns, err := returnOrigins(public, cfg.CookieDomain, cfg.CookieSecure, cfg.ReturnOrigins)
	if err != nil {
		return nil, fmt.Errorf("forwardauth: return origins: %w", err)
	}
	h := cfg.Headers
	for _, f := range []struct {
		v   *string
		def string
	}{
		{&h.User, DefaultHeaders.User}, {&h.Name, DefaultHeaders.Name},
		{&h.Groups, DefaultHeaders.Groups}, {&h.Session, DefaultHeaders.Session},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
	if err := CheckHeaders(h); err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	g := &Guard{
		returns: returns,
		headers: h,
		groups:  &groupCache{store: groups, ttl: cfg.GroupsTTL, now: now, m: map[int64]groupEntry{}},
	}
	if public != nil {
		g.signIn = strings.TrimSuffix(public.String(), "/") + "/login"
	}
	return g, nil
}

// CheckPublicURL validates authd's public address: http or https, a host,
// and no path, query or user info (authd serves its pages at the root).
func CheckPublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("forwardauth: public URL %q: want http(s)://host[:port] with no path", s)
	}
	if _, err := checkHost(u.Host); err != nil {
		return nil, fmt.Errorf("forwardauth: public URL %q: malformed host", s)
	}
	return u, nil
}

// CheckHeaders refuses header names that are not HTTP tokens, or that
// repeat: each identity header must be one of its own.
func CheckHeaders(h Headers) error {
	seen := map[string]bool{}
	for _, n := range []string{h.User, h.Name, h.Groups, h.Session} {
		if !isToken(n) {
			return fmt.Errorf("forwardauth: identity header name %q is not a valid header name", n)
		}
		k := strings.ToLower(n)
		if seen[k] {
			return fmt.Errorf("forwardauth: identity header name %q is used twice", n)
		}
		seen[k] = true
	}
	return nil
}

// Rules returns the access rules in force (nil: no rules file).
func (g *Guard) Rules() *access.Rules { return g.rules.Load() }

// SetRules replaces the access rules, for every request from now on.
func (g *Guard) SetRules(rs *access.Rules) { g.rules.Store(rs) }

// Headers returns the names of the identity headers.
func (g *Guard) Headers() Headers { return g.headers }

// Groups returns the user's groups, at most GroupsTTL old. The slice is
// shared: callers must not change it.
func (g *Guard) Groups(ctx context.Context, userID int64) ([]string, error) {
	return g.groups.of(ctx, userID)
}

// SignInURL returns where to send a signed-out browser that asked for t:
// the sign-in page, returning to t's URL when that is allowed. It is ""
// without a PublicURL.
func (g *Guard) SignInURL(t Target) string {
	if g.signIn == "" {
		return ""
	}
	if rd, ok := g.ReturnTarget(t.URL()); ok {
		return g.signIn + "?rd=" + url.QueryEscape(rd)
	}
	return g.signIn
}
