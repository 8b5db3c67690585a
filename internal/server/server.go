// Package server is the HTTP face of authd: routes, handlers, middleware and
// page rendering. It holds no state of its own beyond its dependencies.
package server

import (
	"context"
	"database/sql"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/clientip"
	"github.com/sessionauth/authd/internal/device"
	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/forwardauth"
	"github.com/sessionauth/authd/internal/group"
	"github.com/sessionauth/authd/internal/metrics"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/notice"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/pwnlist"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/token"
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
	Redis redispool.Source
	// StoreWarning, when set, is said on /readyz: sessions live in an
	// embedded store (REDIS_URL=memory://), for development only.
	StoreWarning string

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

	// Devices issues and checks device tokens: a sign-in from a device that
	// signed in to the account before counts against that device's own
	// budget, not the account's lock that strangers can trip.
	Devices *device.Tokens
	// HSTSIncludeSubdomains and HSTSPreload add those directives to
	// Strict-Transport-Security (when HSTSMaxAge is positive).
	HSTSIncludeSubdomains bool
	HSTSPreload           bool

	// Groups are shown on the account page; nil means group.NewStore(DB).
	Groups *group.Store
	// MFA keeps the accounts' second factors; Now is the clock of TOTP
	// and step-up (nil: time.Now).
	MFA *mfa.Store
	Now func() time.Time
	// WebAuthn checks passkey ceremonies for this server's origin; nil
	// turns passkeys off. Challenges keeps their single-use challenges.
	WebAuthn   *webauthn.WebAuthn
	Challenges *mfa.Challenges
	// StepUpWindow is how recent an authentication must be for sensitive
	// changes (M4); zero means 10 minutes.
	StepUpWindow time.Duration
	// Forward holds the access rules, return origins and identity headers
	// of forward authentication; nil means no rules file and no public URL.
	Forward *forwardauth.Guard

	// AccessTokens signs and verifies access JWTs; nil serves no OAuth
	// endpoints and accepts no JWT.
	AccessTokens *token.Issuer
	// TokenAudiences are the services POST /api/token mints JWTs for.
	TokenAudiences []string
	// ResourceServers may call introspection.
	ResourceServers []ResourceServer
	// CORSOrigins may call /oauth/* and /api/* from scripts (with
	// credentials); they are also trusted for state-changing requests.
	CORSOrigins []string
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
	// DeviceFailures bounds failed sign-ins per device token, and wrong
	// current passwords per signed-in session: the budgets of clients that
	// have proved themselves, which strangers cannot use up.
	DeviceFailures int
	Window         time.Duration
}

// app carries the dependencies of every handler.
type app struct {
	Config
	pages map[string]*template.Template
	// events records activity off the request path.
	events *activity.Writer
	hsts   string // the Strict-Transport-Security value, or ""
}

// Server is the handler with every route and middleware in place. Close it
// after the HTTP server has shut down: it writes the activity events still
// queued.
type Server struct {
	http.Handler
	events *activity.Writer
}

// Close waits until the queued activity events are written, or ctx ends.
func (s *Server) Close(ctx context.Context) error { return s.events.Close(ctx) }

// activityQueue is how many activity events may wait to be written.
const activityQueue = 4096

// New returns the server's handler with every route and middleware in place.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil || cfg.Users == nil || cfg.Sessions == nil || cfg.Hasher == nil ||
		cfg.Activity == nil || cfg.Throttle == nil || cfg.DB == nil || cfg.Redis == nil ||
		cfg.Mail == nil || cfg.Tokens == nil || cfg.Passwords == nil || cfg.Devices == nil || cfg.MFA == nil {
		return nil, errors.New("server: every dependency must be set")
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = clientip.Peer
	}
	if cfg.Limits.Window <= 0 {
		cfg.Limits.Window = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Challenges == nil {
		cfg.Challenges = mfa.NewChallenges(cfg.Redis, "authd:webauthn:", 0)
	}
	if cfg.StepUpWindow <= 0 {
		cfg.StepUpWindow = 10 * time.Minute
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Groups == nil {
		cfg.Groups = group.NewStore(cfg.DB)
	}
	if cfg.Forward == nil {
		g, err := forwardauth.New(forwardauth.Config{}, cfg.Groups)
		if err != nil {
			return nil, err
		}
		cfg.Forward = g
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	a := &app{Config: cfg, pages: pages, hsts: hstsHeader(cfg)}
	h, err := a.routes()
	if err != nil {
		return nil, err
	}
	users := cfg.Users
	a.events = activity.NewWriter(cfg.Activity, func(ctx context.Context, name string) (int64, error) {
		u, err := users.ByName(ctx, name)
		if errors.Is(err, user.ErrNotFound) {
			return 0, nil
		}
		return u.ID, err
	}, cfg.Log, activityQueue)
	return &Server{Handler: h, events: a.events}, nil
}

// hstsHeader is the Strict-Transport-Security value cfg asks for.
func hstsHeader(cfg Config) string {
	if cfg.HSTSMaxAge <= 0 {
		return ""
	}
	v := "max-age=" + strconv.Itoa(cfg.HSTSMaxAge)
	if cfg.HSTSIncludeSubdomains {
		v += "; includeSubDomains"
	}
	if cfg.HSTSPreload {
		v += "; preload"
	}
	return v
}
