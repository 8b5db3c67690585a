// Package server is the HTTP face of authd: routes, handlers, middleware and
// page rendering. It holds no state of its own beyond its dependencies.
package server

import (
	"database/sql"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/clientip"
	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/metrics"
	"github.com/sessionauth/authd/internal/notice"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/pwnlist"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/user"
)

// Config holds what the handlers depend on and the few settings that shape
// their behaviour.
type Config struct {
	Log      *slog.Logger
	Users    *user.Store
	Sessions *session.Manager
	Hasher   *password.Hasher
	Activity *activity.Store
	// Throttle counts attempts in Redis; Limits says how many are allowed.
	Throttle *throttle.Limiter
	Limits   Limits
	// Metrics counts requests, sign-ins, throttling and store errors; nil
	// disables it. Its /metrics is served on a listener of its own (see
	// cli), never here, where anyone could watch the sign-in counters.
	Metrics *metrics.Metrics
	// ClientAddr returns the client address of a request (the peer, or
	// what a trusted proxy says); nil means the peer.
	ClientAddr func(*http.Request) string
	// DB and Redis are pinged by /readyz.
	DB    *sql.DB
	Redis *redis.Pool

	// SignupEnabled serves /signup; when false it is 404.
	SignupEnabled bool
	// MaxBodyBytes caps request bodies; larger ones get 413.
	MaxBodyBytes int64
	// HSTSMaxAge, when positive, sends Strict-Transport-Security.
	HSTSMaxAge int
	// TrustedOrigins are other origins allowed to send state-changing
	// requests (e.g. "https://app.example.com").
	TrustedOrigins []string
	// CookieSecure marks the server's own cookies Secure (the session
	// cookie follows the session package's setting of the same name).
	CookieSecure bool

	// Mail enqueues the e-mails handlers send (confirmations, reset links,
	// notices); Tokens checks and spends the tokens of e-mailed links;
	// Passwords refuses common and breached new passwords.
	Mail      *notice.Mailer
	Tokens    *emailtoken.Store
	Passwords *pwnlist.Checker
}

// Limits bound attempts per throttle window; zero disables a limit.
type Limits struct {
	AccountFailures int // failed sign-ins per account
	AddrFailures    int // failed sign-ins per client address
	Signups         int // sign-up attempts per client address
	// ResetRequests bounds password-reset mails per account and per
	// address (beyond it requests are answered as usual but send nothing);
	// ResetClients bounds reset requests per client address (429).
	ResetRequests int
	ResetClients  int
	Window        time.Duration
}

// app carries the dependencies of every handler.
type app struct {
	Config
	pages map[string]*template.Template
	ids   *requestIDs
}

// New returns the server's handler with every route and middleware in place.
func New(cfg Config) (http.Handler, error) {
	if cfg.Log == nil || cfg.Users == nil || cfg.Sessions == nil || cfg.Hasher == nil ||
		cfg.Activity == nil || cfg.Throttle == nil || cfg.DB == nil || cfg.Redis == nil ||
		cfg.Mail == nil || cfg.Tokens == nil || cfg.Passwords == nil {
		return nil, errors.New("server: every dependency must be set")
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = clientip.Peer
	}
	if cfg.Limits.Window <= 0 {
		cfg.Limits.Window = 15 * time.Minute
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	ids, err := newRequestIDs()
	if err != nil {
		return nil, err
	}
	a := &app{Config: cfg, pages: pages, ids: ids}
	return a.routes()
}
