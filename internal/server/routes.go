package server

import (
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/rs/cors"

	"github.com/sessionauth/authd/web"
)

// routes is the one place that shows every URL and its middleware. Routes
// outside the requireUser group are public; TestEveryRouteIsPublicOrProtected
// keeps that list honest.
func (a *app) routes() (http.Handler, error) {
	static, err := fs.Sub(web.Files, "static")
	if err != nil {
		return nil, err
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range append(slices.Clone(a.TrustedOrigins), a.CORSOrigins...) {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(a.handleCrossOrigin))
	// The verify endpoints change nothing, and see the protected apps'
	// requests, whose cross-origin POSTs are the apps' business.
	cop.AddInsecureBypassPattern("/auth/request")
	cop.AddInsecureBypassPattern("/auth/forward")

	// The token endpoints need no exemption: apps send no Origin or
	// Sec-Fetch-Site, and browser scripts come from CORSOrigins, trusted above.

	r := chi.NewRouter()
	// Metrics first, so it times everything and sees chi's route pattern.
	r.Use(a.Metrics.Middleware, a.logRequests, a.recoverPanic, a.secureHeaders, a.limitBody, a.cors(), cop.Handler, a.Sessions.Middleware)
	if a.AccessTokens != nil {
		r.Use(a.bearerAccessToken)
	}
	r.NotFound(a.handleNotFound)
	r.MethodNotAllowed(a.handleMethodNotAllowed)

	// Public.
	r.Get("/", a.handleHome)
	r.Get("/login", a.handleLoginForm)
	r.Post("/login", a.handleLoginSubmit)
	if a.SignupEnabled {
		r.Get("/signup", a.handleSignupForm)
		r.Post("/signup", a.handleSignupSubmit)
	}
	r.Post("/logout", a.handleLogout)
	// The second step of sign-in: for a pending session only (M3), which
	// every route below refuses; and passkey sign-in.
	r.Get("/login/2fa", a.handleSecondFactorForm)
	r.Post("/login/2fa", a.handleSecondFactorSubmit)
	r.Post("/login/passkey/options", a.handlePasskeyLoginOptions)
	r.Post("/login/passkey", a.handlePasskeyLogin)
	r.Get("/forgot", a.handleForgotForm)
	r.Post("/forgot", a.handleForgotSubmit)
	r.Get("/reset", a.handleResetForm)
	r.Post("/reset", a.handleResetSubmit)
	r.Get("/email/verify", a.handleVerifyForm)
	r.Post("/email/verify", a.handleVerifySubmit)
	r.Get("/healthz", a.handleHealth)
	r.Get("/readyz", a.handleReady)
	r.Method(http.MethodGet, "/static/*", http.StripPrefix("/static/", a.staticFiles(static)))
	// Browsers ask for /favicon.ico whatever the page says.
	r.Method(http.MethodGet, "/favicon.ico", http.StripPrefix("/", a.staticFiles(static)))

	// Forward authentication, any method: they answer 401 or 403
	// themselves (forwardauth.go).
	r.HandleFunc("/auth/request", a.handleAuthRequest)
	r.HandleFunc("/auth/forward", a.handleForwardAuth)

	// OAuth 2.0 for API and mobile clients (oauth.go).
	if a.AccessTokens != nil {
		r.Post("/oauth/token", a.handleToken)
		r.Post("/oauth/introspect", a.handleIntrospect)
		r.Post("/oauth/revoke", a.handleTokenRevoke)
		r.Get("/.well-known/oauth-authorization-server", a.handleAuthServerMetadata)
		r.Get("/.well-known/jwks.json", a.handleJWKS)
	}

	// Signed in only.
	r.Group(func(r chi.Router) {
		r.Use(a.requireUser)
		r.Get("/account", a.handleAccount)
		r.Get("/account/sessions", a.handleSessions)
		r.With(a.stepUp("/account/sessions")).Post("/account/sessions/revoke-others", a.handleRevokeOthers)
		r.Post("/account/sessions/{id}/revoke", a.handleRevoke)
		r.Get("/account/password", a.handlePasswordForm)
		r.Post("/account/password", a.handlePasswordSubmit)
		r.Get("/account/activity", a.handleActivity)
		r.Get("/account/email", a.handleEmail)
		r.Post("/account/email", a.handleEmailSubmit)
		r.Get("/account/reauth", a.handleReauthForm)
		r.Post("/account/reauth", a.handleReauthSubmit)
		r.Get("/account/2fa", a.handleTwoFactor)
		// A new factor is a new way in (a passkey signs in alone): recent
		// authentication first, so a stolen session cannot add its own.
		r.With(a.stepUp("/account/2fa")).Post("/account/2fa/totp", a.handleTOTPBegin)
		r.Get("/account/2fa/totp", a.handleTOTPSetup)
		r.Get("/account/2fa/totp/qr.png", a.handleTOTPQR)
		r.Post("/account/2fa/totp/confirm", a.handleTOTPConfirm)
		r.Get("/account/2fa/recovery", a.handleRecovery)
		r.With(a.stepUp("/account/2fa")).Post("/account/passkeys/options", a.handlePasskeyOptions)
		r.With(a.stepUp("/account/2fa")).Post("/account/passkeys", a.handlePasskeyAdd)
		r.Post("/account/passkeys/{id}/rename", a.handlePasskeyRename)
		// Sensitive changes need a recent authentication (M4).
		r.With(a.stepUp("/account/2fa")).Post("/account/2fa/totp/remove", a.handleTOTPRemove)
		r.With(a.stepUp("/account/2fa/recovery")).Post("/account/2fa/recovery", a.handleRecoveryRegenerate)
		r.With(a.stepUp("/account/2fa")).Post("/account/passkeys/{id}/remove", a.handlePasskeyRemove)

		// The same, as JSON.
		r.Get("/api/me", a.handleMe)
		r.Get("/api/sessions", a.handleSessions)
		r.With(a.stepUp("/account/sessions")).Post("/api/sessions/revoke-others", a.handleRevokeOthers)
		r.Post("/api/sessions/{id}/revoke", a.handleRevoke)
		r.Post("/api/password", a.handlePasswordSubmit)
		r.Get("/api/activity", a.handleActivity)
		r.Get("/api/email", a.handleEmail)
		r.Post("/api/email", a.handleEmailSubmit)
		r.Post("/api/reauth", a.handleReauthSubmit)
		r.Get("/api/2fa", a.handleTwoFactor)
		r.With(a.stepUp("/account/2fa")).Post("/api/2fa/totp", a.handleTOTPBegin)
		r.Post("/api/2fa/totp/confirm", a.handleTOTPConfirm)
		r.With(a.stepUp("/account/2fa")).Post("/api/2fa/totp/remove", a.handleTOTPRemove)
		r.With(a.stepUp("/account/2fa/recovery")).Post("/api/2fa/recovery", a.handleRecoveryRegenerate)
		if a.AccessTokens != nil {
			r.Post("/api/token", a.handleMintToken)
		}
	})
	return r, nil
}

// cors answers cross-origin requests to /oauth/*, /api/* and the
// well-known documents from the configured origins only (rs/cors: the
// preflight, Vary: Origin, credentials), and leaves every other path alone.
func (a *app) cors() func(http.Handler) http.Handler {
	c := cors.New(cors.Options{
		AllowedOrigins:   a.CORSOrigins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "Device-Token"},
		AllowCredentials: true,
		MaxAge:           600,
	})
	return func(next http.Handler) http.Handler {
		withCORS := c.Handler(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := r.URL.Path
			if len(a.CORSOrigins) > 0 && (strings.HasPrefix(p, "/oauth/") || strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/.well-known/")) {
				withCORS.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
