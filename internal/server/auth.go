package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/user"
)

// msgInvalidCredentials is the one answer for an unknown user and a wrong
// password alike, so that it does not tell which user names exist.
const msgInvalidCredentials = "Invalid user name or password."

// handleLoginForm shows the sign-in form.
func (a *app) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	next, _ := localRedirect(r.URL.Query().Get("next"))
	d := a.page(r, "Sign in")
	d.Form = &formView{Next: next}
	a.render(w, r, http.StatusOK, "login", d)
}

// handleLoginSubmit checks the credentials and starts a session under a new
// token. An unknown user costs one bcrypt comparison, like a known one.
func (a *app) handleLoginSubmit(w http.ResponseWriter, r *http.Request) {
	c, err := decodeCredentials(r)
	if err != nil {
		a.badBody(w, r, err)
		return
	}
	f := &formView{Username: echo(c.Username), Fields: map[string]string{}}
	f.Next, _ = localRedirect(c.Next)
	if strings.TrimSpace(c.Username) == "" {
		f.Fields["username"] = "Enter your user name."
	}
	if c.Password == "" {
		f.Fields["password"] = "Enter your password."
	}
	if len(f.Fields) > 0 {
		a.formError(w, r, "login", "Sign in", http.StatusUnprocessableEntity, f, "Please fill in both fields.")
		return
	}

	u, err := a.authenticate(r.Context(), a.logger(r), c.Username, c.Password)
	switch {
	case errors.Is(err, password.ErrMismatch):
		a.audit(r, "sign_in", "failure", u.ID)
		a.formError(w, r, "login", "Sign in", http.StatusUnauthorized, f, msgInvalidCredentials)
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	if err := a.Sessions.SignIn(r.Context(), w, u.ID, u.Name); err != nil {
		a.unavailable(w, r, err)
		return
	}
	a.audit(r, "sign_in", "success", u.ID)
	a.signedIn(w, r, http.StatusOK, nextOr(c.Next, "/account"))
}

// signedIn answers a request that has just started a session: the user as
// JSON with jsonStatus, or a redirect to target.
func (a *app) signedIn(w http.ResponseWriter, r *http.Request, jsonStatus int, target string) {
	if wantsJSON(r) {
		info, _ := a.Sessions.Current(r.Context())
		writeJSON(w, jsonStatus, map[string]any{"user": userJSON(info)})
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// authenticate returns the user whose name and password these are, or
// password.ErrMismatch. Any other error means a dependency failed. On a
// mismatch for a known user, the returned User carries its id for the audit log.
func (a *app) authenticate(ctx context.Context, log *slog.Logger, name, pw string) (user.User, error) {
	u, err := a.Users.ByName(ctx, name)
	if errors.Is(err, user.ErrNotFound) {
		return user.User{}, a.Hasher.VerifyDummy(ctx, pw)
	}
	if err != nil {
		return user.User{}, err
	}
	rehash, err := a.Hasher.Verify(ctx, u.PasswordHash, pw)
	if err != nil {
		return user.User{ID: u.ID}, err
	}
	if rehash {
		// The configured cost changed since this hash was made. Failing to
		// upgrade it must not fail the sign-in: the old hash still works.
		if h, err := a.Hasher.Hash(ctx, pw); err != nil {
			log.Warn("rehash password", "user_id", u.ID, "err", err)
		} else if err := a.Users.SetPasswordHash(ctx, u.ID, h); err != nil {
			log.Warn("store rehashed password", "user_id", u.ID, "err", err)
		}
	}
	return u, nil
}

// handleSignupForm shows the sign-up form.
func (a *app) handleSignupForm(w http.ResponseWriter, r *http.Request) {
	d := a.page(r, "Sign up")
	d.Form = &formView{}
	a.render(w, r, http.StatusOK, "signup", d)
}

// handleSignupSubmit creates a user and signs them in.
func (a *app) handleSignupSubmit(w http.ResponseWriter, r *http.Request) {
	c, err := decodeCredentials(r)
	if err != nil {
		a.badBody(w, r, err)
		return
	}
	f := &formView{Username: echo(c.Username), Fields: map[string]string{}}
	if _, _, err := user.NormalizeName(c.Username); err != nil {
		f.Fields["username"] = userMessage(err)
	}
	if err := password.Validate(c.Password); err != nil {
		f.Fields["password"] = capitalize(err.Error()) + "."
	}
	if len(f.Fields) > 0 {
		a.formError(w, r, "signup", "Sign up", http.StatusUnprocessableEntity, f, "Please correct the fields below.")
		return
	}
	// Without Redis the new user could not be signed in: refuse before
	// creating the account rather than leave the name taken behind a 503.
	if err := redispool.Ping(r.Context(), a.Redis); err != nil {
		a.unavailable(w, r, err)
		return
	}
	hash, err := a.Hasher.Hash(r.Context(), c.Password)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	u, err := a.Users.Create(r.Context(), c.Username, hash)
	switch {
	case errors.Is(err, user.ErrDuplicateName):
		f.Fields["username"] = "That user name is taken."
		a.formError(w, r, "signup", "Sign up", http.StatusConflict, f, "Please choose another user name.")
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	a.audit(r, "sign_up", "success", u.ID)
	if err := a.Sessions.SignIn(r.Context(), w, u.ID, u.Name); err != nil {
		a.logger(r).Warn("sign-in after sign-up", "user_id", u.ID, "err", err)
		w.Header().Set("Retry-After", "5")
		a.fail(w, r, http.StatusServiceUnavailable, "Your account was created, but signing you in failed. Please sign in again in a moment.")
		return
	}
	a.audit(r, "sign_in", "success", u.ID)
	a.signedIn(w, r, http.StatusCreated, "/account")
}

// handleLogout deletes the session in Redis and clears the cookie. When
// Redis cannot be reached it answers 503 rather than pretend: clearing only
// the cookie would leave a live session behind.
func (a *app) handleLogout(w http.ResponseWriter, r *http.Request) {
	info, err := a.Sessions.Current(r.Context())
	if err != nil && !errors.Is(err, session.ErrSignedOut) {
		a.unavailable(w, r, err)
		return
	}
	if err := a.Sessions.SignOut(r.Context(), w); err != nil {
		a.unavailable(w, r, err)
		return
	}
	if info.UserID != 0 {
		a.audit(r, "sign_out", "success", info.UserID)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]bool{"signed_out": true})
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// formError re-shows a form with what was wrong, or answers JSON
// {"error": msg, "fields": {...}}.
func (a *app) formError(w http.ResponseWriter, r *http.Request, page, title string, status int, f *formView, msg string) {
	if wantsJSON(r) {
		body := map[string]any{"error": msg}
		if len(f.Fields) > 0 {
			body["fields"] = f.Fields
		}
		writeJSON(w, status, body)
		return
	}
	f.Error = msg
	d := a.page(r, title)
	d.Form = f
	a.render(w, r, status, page, d)
}

// audit logs one line per security event: never a password or a token.
func (a *app) audit(r *http.Request, event, outcome string, userID int64) {
	a.logger(r).LogAttrs(r.Context(), slog.LevelInfo, "audit",
		slog.String("event", event),
		slog.String("outcome", outcome),
		slog.Int64("user_id", userID),
		slog.String("client", clientAddr(r)))
}

// userMessage returns the human part of a validation error such as
// "user: invalid name: must be 3 to 32 characters".
func userMessage(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return capitalize(msg) + "."
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
