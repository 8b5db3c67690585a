package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/user"
	"github.com/sessionauth/authd/internal/useragent"
)

// The OAuth 2.0 face of authd, for API and mobile clients:
//
//	POST /oauth/token        RFC 6749 password and refresh_token grants
//	POST /oauth/introspect   RFC 7662, for configured resource servers
//	POST /oauth/revoke       RFC 7009
//	GET  /.well-known/oauth-authorization-server   RFC 8414 metadata
//	GET  /.well-known/jwks.json                    the signing keys
//	POST /api/token          a signed-in session mints a JWT for a service
//
// A password grant starts a token session (session/token.go): it is listed
// with the user's browser sessions and ended by the same revoke,
// sign-out-everywhere and password change. Its access tokens are JWTs
// naming the session (sid), which authd checks against Redis wherever it
// accepts one (bearerAccessToken), so that an ended session is refused at
// once. Clients are public (client_id only, no secret: a mobile app or a
// CLI cannot keep one); only resource servers authenticate, to introspect.

// ResourceServer is a service allowed to call introspection: an id and the
// SHA-256 of its secret.
type ResourceServer struct {
	ID         string
	SecretHash []byte
}

// maxClientID bounds a client_id; it is shown in session lists.
const maxClientID = 64

// oauthError answers an RFC 6749 §5.2 error.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	writeJSON(w, status, body)
}

// oauthForm parses an OAuth request's form-encoded body; false means it
// has answered invalid_request.
func oauthForm(w http.ResponseWriter, r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return false
	}
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			oauthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the body is too large")
			return false
		}
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body is not a valid form")
		return false
	}
	// RFC 6749 §3.2: parameters must not be repeated.
	for k, v := range r.PostForm {
		if len(v) > 1 {
			oauthError(w, http.StatusBadRequest, "invalid_request", "parameter "+strconv.Quote(k)+" is repeated")
			return false
		}
	}
	return true
}

func validClientID(s string) bool {
	if len(s) > maxClientID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:/", c) >= 0) {
			return false
		}
	}
	return true
}

// tokenAnswer is the token endpoint's success (RFC 6749 §5.1).
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// DeviceToken makes this client a known device for its next password
	// grant (its own throttling budget; send it as Device-Token).
	DeviceToken string `json:"device_token,omitempty"`
}

// handleToken is the token endpoint.
func (a *app) handleToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if !oauthForm(w, r) {
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "password":
		a.passwordGrant(w, r)
	case "refresh_token":
		a.refreshGrant(w, r)
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "supported: password, refresh_token")
	}
}

// passwordGrant signs in with a name and a password, through the very path
// of the sign-in form, and starts a token session.
func (a *app) passwordGrant(w http.ResponseWriter, r *http.Request) {
	name, pw, clientID := r.PostForm.Get("username"), r.PostForm.Get("password"), r.PostForm.Get("client_id")
	scope := r.PostForm.Get("scope")
	if strings.TrimSpace(name) == "" || pw == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "username and password are required")
		return
	}
	if !validClientID(clientID) || len(scope) > 256 {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_id or scope is malformed")
		return
	}
	from := []slog.Attr{slog.String("grant", "password")}
	if clientID != "" {
		from = append(from, slog.String("client_id", clientID))
	}
	var answer tokenAnswer
	_, ok := a.passwordSignIn(w, r, name, pw, from, signInAnswers{
		throttled: func(ref *throttle.Refused, userID int64, key string) {
			secs := a.refusedAttempt(w, r, "sign_in", ref, userID, key, from...)
			oauthError(w, http.StatusTooManyRequests, "invalid_request",
				"too many attempts; retry after "+strconv.Itoa(secs)+" seconds")
		},
		failed: func(left int) {
			desc := msgInvalidCredentials
			if warning := a.attemptsLeft(left); warning != "" {
				desc += " " + warning
			}
			oauthError(w, http.StatusBadRequest, "invalid_grant", desc)
		},
		secondFactor: func(u user.User, factors mfa.Factors) {
			// The password grant has no second step: such an account
			// signs in with the browser (or mints a token from its
			// signed-in session at /api/token).
			a.audit(r, "sign_in", "second_factor_required", u.ID, from...)
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"error":                  "invalid_grant",
				"error_description":      "this account has a second factor; the password grant cannot sign it in",
				"second_factor_required": true, "methods": factors.Methods(),
			})
		},
		start: func(u user.User) bool {
			ts, err := a.Sessions.StartToken(r.Context(), session.TokenGrant{
				Grant:    session.Grant{UserID: u.ID, Name: u.Name, Epoch: u.Epoch, Methods: []string{amrPassword}},
				ClientID: clientID, ClientAddr: a.ClientAddr(r), UserAgent: useragent.Summary(r.UserAgent()),
			})
			switch {
			case errors.Is(err, session.ErrCredentialsChanged):
				a.audit(r, "sign_in", "failure", u.ID, append([]slog.Attr{slog.String("reason", "credentials changed")}, from...)...)
				oauthError(w, http.StatusBadRequest, "invalid_grant", "the password was changed just now")
				return false
			case err != nil:
				a.unavailable(w, r, err)
				return false
			}
			access, _, err := a.AccessTokens.Sign(r.Context(), u.ID, ts.ID, clientID, a.AccessTokens.IssuerURL(), scope, amrPassword)
			if err != nil {
				a.serverError(w, r, err)
				return false
			}
			a.Metrics.SignIn("success")
			a.audit(r, "sign_in", "success", u.ID, append([]slog.Attr{slog.String("session_kind", session.KindAPI)}, from...)...)
			answer = tokenAnswer{
				AccessToken: access, TokenType: "Bearer", ExpiresIn: int(a.AccessTokens.Lifetime().Seconds()),
				RefreshToken: ts.Refresh, Scope: scope, DeviceToken: a.Devices.Issue(u.ID),
			}
			return true
		},
	})
	if ok {
		writeJSON(w, http.StatusOK, answer)
	}
}

// refreshGrant rotates a refresh token.
func (a *app) refreshGrant(w http.ResponseWriter, r *http.Request) {
	rt := r.PostForm.Get("refresh_token")
	if rt == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "refresh_token is required")
		return
	}
	ts, err := a.Sessions.Refresh(r.Context(), rt)
	switch {
	case errors.Is(err, session.ErrTokenReused):
		// T2: a rotated token again: a thief or a confused client. The
		// family (the session) has ended, on every instance.
		a.audit(r, "refresh_token_reuse", "session_ended", ts.UserID, slog.String("session", ts.ID))
		a.record(r, ts.UserID, activity.RefreshTokenReused)
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token was already used; the session has ended")
		return
	case errors.Is(err, session.ErrInvalidGrant):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is invalid, expired or revoked")
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	access, _, err := a.AccessTokens.Sign(r.Context(), ts.UserID, ts.ID, ts.ClientID, a.AccessTokens.IssuerURL(), "", amrPassword) // token sessions start from the password grant
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenAnswer{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(a.AccessTokens.Lifetime().Seconds()), RefreshToken: ts.Refresh,
	})
}

// resourceServer authenticates the caller of introspection (HTTP Basic,
// or client_id and client_secret in the form); false means it has answered.
func (a *app) resourceServer(w http.ResponseWriter, r *http.Request, required bool) (string, bool) {
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" && secret == "" && !required {
		return "", true
	}
	sum := sha256.Sum256([]byte(secret))
	found := false
	for _, rs := range a.ResourceServers {
		// Every entry is compared, so the time says nothing about which id exists.
		if subtle.ConstantTimeCompare(sum[:], rs.SecretHash) == 1 && subtle.ConstantTimeCompare([]byte(id), []byte(rs.ID)) == 1 {
			found = true
		}
	}
	if !found || secret == "" {
		a.audit(r, "client_auth", "failure", 0, slog.String("client_id", echo(id)))
		w.Header().Set("WWW-Authenticate", `Basic realm="authd"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return "", false
	}
	return id, true
}

// looksLikeJWT tells a compact JWS from the other token forms.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }

// handleIntrospect answers RFC 7662: active only for a live token whose
// session is live (T6).
func (a *app) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !oauthForm(w, r) {
		return
	}
	if _, ok := a.resourceServer(w, r, true); !ok {
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	inactive := map[string]any{"active": false}
	switch {
	case looksLikeJWT(tok):
		c, err := a.AccessTokens.Verify(r.Context(), tok, "")
		if err != nil {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		info, err := a.Sessions.Live(r.Context(), c.SessionID, c.UserID())
		if err != nil {
			a.introspectErr(w, r, err, inactive)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"active": true, "token_type": "Bearer", "sub": c.Subject, "username": info.Name,
			"client_id": c.ClientID, "scope": c.Scope, "iss": c.Issuer, "aud": []string(c.Audience),
			"exp": c.Expiry.Time().Unix(), "iat": c.IssuedAt.Time().Unix(), "jti": c.ID, "sid": c.SessionID,
		})
	case strings.Contains(tok, "."):
		ts, ok, err := a.Sessions.Inspect(r.Context(), tok)
		if err != nil {
			a.unavailable(w, r, err)
			return
		}
		if !ok {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"active": true, "token_type": "refresh_token", "sub": strconv.FormatInt(ts.UserID, 10),
			"client_id": ts.ClientID, "exp": ts.Expires.Unix(), "sid": ts.ID, "iss": a.AccessTokens.IssuerURL(),
		})
	default:
		info, err := a.Sessions.LiveToken(r.Context(), tok)
		if err != nil {
			a.introspectErr(w, r, err, inactive)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"active": true, "token_type": "session", "sub": strconv.FormatInt(info.UserID, 10), "username": info.Name,
			"exp": info.Expires.Unix(), "iat": info.SignedInAt.Unix(), "sid": info.ID, "iss": a.AccessTokens.IssuerURL(),
		})
	}
}

func (a *app) introspectErr(w http.ResponseWriter, r *http.Request, err error, inactive any) {
	if errors.Is(err, session.ErrSignedOut) {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	a.unavailable(w, r, err)
}

// handleRevoke ends the session of a refresh token, an access token or a
// session token (RFC 7009). Holding a token is enough to end it; the
// answer is 200 whatever the token was, so it tells nothing.
func (a *app) handleTokenRevoke(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !oauthForm(w, r) {
		return
	}
	if _, ok := a.resourceServer(w, r, false); !ok {
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	var uid int64
	var err error
	switch {
	case looksLikeJWT(tok):
		c, verr := a.AccessTokens.Verify(r.Context(), tok, "")
		if verr == nil {
			var ended bool
			ended, err = a.Sessions.EndSession(r.Context(), c.UserID(), c.SessionID)
			if ended {
				uid = c.UserID()
			}
		}
	case strings.Contains(tok, "."):
		uid, err = a.Sessions.RevokeRefresh(r.Context(), tok)
	default:
		var info session.Info
		if info, err = a.Sessions.LiveToken(r.Context(), tok); err == nil {
			var ended bool
			ended, err = a.Sessions.EndSession(r.Context(), info.UserID, info.ID)
			if ended {
				uid = info.UserID
			}
		} else if errors.Is(err, session.ErrSignedOut) {
			err = nil
		}
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if uid != 0 {
		a.audit(r, "session_revoke", "success", uid, slog.String("via", "oauth_revoke"), slog.Int("sessions", 1))
		a.record(r, uid, activity.Revoked)
	}
	w.WriteHeader(http.StatusOK)
}

// handleAuthServerMetadata is RFC 8414's document.
func (a *app) handleAuthServerMetadata(w http.ResponseWriter, r *http.Request) {
	iss := a.AccessTokens.IssuerURL()
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        iss + "/oauth/token",
		"jwks_uri":                              iss + "/.well-known/jwks.json",
		"introspection_endpoint":                iss + "/oauth/introspect",
		"revocation_endpoint":                   iss + "/oauth/revoke",
		"grant_types_supported":                 []string{"password", "refresh_token"},
		"response_types_supported":              []string{},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"introspection_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":       []string{"none", "client_secret_basic", "client_secret_post"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"ES256"},
	})
}

// handleJWKS publishes the signing keys. Caches may keep it a minute: a
// new key signs only after every instance has reloaded (token.Config).
func (a *app) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, a.AccessTokens.JWKS(r.Context()))
}

// handleMintToken gives a signed-in session (cookie or bearer) a JWT for
// one of the configured services; its sid is this session, so ending the
// session ends it wherever authd or introspection is asked.
func (a *app) handleMintToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	info, _ := a.Sessions.Current(r.Context()) // requireUser checked it
	var body struct {
		Aud string `json:"aud"`
	}
	if err := decodeBody(r, &body, func(f url.Values) { body.Aud = f.Get("aud") }); err != nil {
		a.badBody(w, r, err)
		return
	}
	if !slices.Contains(a.TokenAudiences, body.Aud) {
		oauthError(w, http.StatusBadRequest, "invalid_target", "aud must be one of the configured services")
		return
	}
	access, c, err := a.AccessTokens.Sign(r.Context(), info.UserID, info.ID, info.ClientID, body.Aud, "", info.Methods...)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.audit(r, "token_mint", "success", info.UserID, slog.String("aud", body.Aud))
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access, "token_type": "Bearer",
		"expires_in": int(time.Until(c.Expiry.Time()).Round(time.Second).Seconds()), "aud": body.Aud,
	})
}

// bearerAccessToken accepts an access JWT in Authorization: Bearer for a
// request that carries no session: verified against the published keys for
// authd's own audience, then its sid against Redis (one read), so that a
// revoked session is refused at once even before the JWT's exp (T6).
func (a *app) bearerAccessToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.Sessions.Current(r.Context()); !errors.Is(err, session.ErrSignedOut) {
			next.ServeHTTP(w, r)
			return
		}
		scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !looksLikeJWT(raw) {
			next.ServeHTTP(w, r)
			return
		}
		c, err := a.AccessTokens.Verify(r.Context(), strings.TrimSpace(raw), a.AccessTokens.IssuerURL())
		if err != nil {
			a.logger(r).Debug("access token refused", "err", err)
			next.ServeHTTP(w, r)
			return
		}
		info, err := a.Sessions.Live(r.Context(), c.SessionID, c.UserID())
		if !errors.Is(err, session.ErrSignedOut) {
			a.Sessions.UseSession(r.Context(), info, err)
		}
		next.ServeHTTP(w, r)
	})
}
