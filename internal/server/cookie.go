package server

import (
	"net/http"
)

// msgAmbiguousCookie explains why a request with two session cookies is
// signed out, and what the user can do about it.
const msgAmbiguousCookie = "Your browser sent more than one session cookie for this site, so you are treated as signed out: " +
	"one of them may have been planted by another site on the same domain. " +
	"Clear this site's cookies in your browser, then sign in again."

// ambiguousCookie reports whether the request carries more than one session
// cookie (S6). The session middleware then uses neither, and a protected
// page says why rather than just ask the user to sign in: signing in again
// would not help while the other cookie is there.
func (a *app) ambiguousCookie(r *http.Request) bool {
	return len(r.CookiesNamed(a.Sessions.CookieName())) > 1
}

// handleAmbiguousCookie answers a protected page whose request carried more
// than one session cookie: 401 for API clients, and for browsers the sign-in
// form with the explanation (400: the request itself is at fault).
func (a *app) handleAmbiguousCookie(w http.ResponseWriter, r *http.Request) {
	a.audit(r, "session", "ambiguous_cookie", 0)
	if wantsJSON(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
		a.fail(w, r, http.StatusUnauthorized, msgAmbiguousCookie)
		return
	}
	next, _ := localRedirect(r.URL.RequestURI())
	d := a.page(r, "Sign In")
	d.Form = &formView{Next: next, Error: msgAmbiguousCookie}
	a.render(w, r, http.StatusBadRequest, "login", d)
}
