package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sessionauth/authd/internal/access"
	"github.com/sessionauth/authd/internal/forwardauth"
	"github.com/sessionauth/authd/internal/session"
)

// The verify endpoints. A proxy in front of other apps asks one of them
// about every request, with the client's cookies and Authorization header,
// and a description of the original request:
//
//	nginx auth_request          GET|…  /auth/request  X-Original-URL, X-Original-Method
//	Caddy forward_auth, Traefik GET|…  /auth/forward  X-Forwarded-Proto, -Host, -Uri, -Method
//
// The answer comes from the session the middleware loaded (one Redis read;
// a write at most once per refresh interval), the access rules and the
// user's groups (cached in memory):
//
//	allowed             200 with the identity headers
//	signed out          nginx: 401 with the sign-in URL in Location, which
//	                    the documented snippet turns into a redirect;
//	                    Caddy, Traefik: 302 (303 after a POST) to the sign-in
//	                    page for browsers, 401 for everything else
//	signed in, refused  403
//	bad description     400 (nginx: 403, since it understands nothing else)
//
// Every answer carries Cache-Control: no-store (F5).

// handleAuthRequest answers nginx's auth_request.
func (a *app) handleAuthRequest(w http.ResponseWriter, r *http.Request) {
	a.verify(w, r, true)
}

// handleForwardAuth answers Caddy's forward_auth and Traefik's forwardAuth.
func (a *app) handleForwardAuth(w http.ResponseWriter, r *http.Request) {
	a.verify(w, r, false)
}

func (a *app) verify(w http.ResponseWriter, r *http.Request, nginx bool) {
	w.Header().Set("Cache-Control", "no-store")
	read := forwardauth.FromForwarded
	if nginx {
		read = forwardauth.FromNginx
	}
	target, err := read(r)
	if err != nil {
		// Only a misconfigured proxy or a crafted request gets here.
		a.logger(r).Info("forward auth: refused request description", "err", err)
		status := http.StatusBadRequest
		if nginx {
			status = http.StatusForbidden
		}
		a.fail(w, r, status, "The proxy described the request in a way authd cannot check.")
		return
	}

	var who *access.Subject
	info, err := a.Sessions.Current(r.Context())
	switch {
	case errors.Is(err, session.ErrSignedOut):
		// Signed out: no session token, and no access JWT whose session is
		// live (bearerAccessToken has already looked at the request's
		// Authorization header, checked the JWT and read its sid).
	case err != nil:
		a.unavailable(w, r, err)
		return
	default:
		groups, err := a.Forward.Groups(r.Context(), info.UserID)
		if err != nil {
			a.unavailable(w, r, fmt.Errorf("forward auth: groups of user %d: %w", info.UserID, err))
			return
		}
		who = &access.Subject{Name: info.Name, Groups: groups, TwoFactor: multiFactor(info.Methods)}
	}

	switch d := a.Forward.Rules().Decide(target.Resource, who); d.Verdict {
	case access.Allowed:
		// Signed out (a bypass rule), the identity headers are sent empty
		// rather than left out: Caddy before 2.10 would otherwise hand the
		// app its placeholder text, "{http.reverse_proxy.header.Remote-User}".
		var user, groups, id string
		if who != nil {
			user, groups, id = info.Name, strings.Join(who.Groups, ","), info.ID
		}
		h, names := w.Header(), a.Forward.Headers()
		h.Set(names.User, user)
		h.Set(names.Name, user)
		h.Set(names.Groups, groups)
		h.Set(names.Session, id)
		w.WriteHeader(http.StatusOK)
	case access.SignInRequired:
		a.signInRequired(w, r, target, nginx)
	default:
		a.fail(w, r, http.StatusForbidden, "You do not have access to this page.")
	}
}

// signInRequired answers a signed-out request that needs a session: a
// browser is sent to sign in, and back to the page it asked for afterwards.
func (a *app) signInRequired(w http.ResponseWriter, r *http.Request, t forwardauth.Target, nginx bool) {
	signIn := a.Forward.SignInURL(t)
	if !nginx && signIn != "" && isBrowser(r) {
		status := http.StatusFound
		if t.Method != http.MethodGet && t.Method != http.MethodHead {
			status = http.StatusSeeOther // the sign-in page is fetched with GET
		}
		w.Header().Set("Location", signIn)
		w.WriteHeader(status)
		return
	}
	if signIn != "" {
		w.Header().Set("Location", signIn)
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
	a.fail(w, r, http.StatusUnauthorized, "not signed in")
}

// isBrowser tells a page load, which can follow a redirect to the sign-in
// page, from XHR, fetch, JSON and command-line clients, which get 401.
func isBrowser(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html") &&
		!strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest")
}

// multiFactor reports whether a session's methods are more than a
// password: an authenticator app, a recovery code, or a passkey (which
// verified the user itself).
func multiFactor(amr []string) bool {
	for _, m := range amr {
		if m == amrOTP || m == amrRecovery || m == amrPasskey {
			return true
		}
	}
	return false
}
