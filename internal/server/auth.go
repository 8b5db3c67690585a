package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/user"
)

// maxHashWait bounds how long a request waits for bcrypt (queued behind a
// flood of attempts, then hashing): beyond it the answer is 503, so that
// waiting requests cannot pile up without limit.
const maxHashWait = 10 * time.Second

// msgInvalidCredentials is the one answer for an unknown user and a wrong
// password alike, so that it does not tell which user names exist.
const msgInvalidCredentials = "Invalid user name or password."

// handleLoginForm shows the sign-in form.
func (a *app) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	next, _ := localRedirect(r.URL.Query().Get("next"))
	d := a.page(r, "Sign In")
	d.Form = &formView{Next: next, ReturnTo: a.returnTo(r.URL.Query().Get("rd"))}
	d.Scripts = a.WebAuthn != nil // "Sign in with a passkey"
	if d.User == nil && d.Notice == "" {
		// This device's session ended: say why (another device ended it,
		// a password change, or it expired).
		d.Notice = endedNotice(a.Sessions.EndReason(r.Context()))
	}
	a.render(w, r, http.StatusOK, "login", d)
}

// handleLoginSubmit checks the credentials and starts a session under a new
// token, through passwordSignIn.
func (a *app) handleLoginSubmit(w http.ResponseWriter, r *http.Request) {
	c, err := decodeCredentials(r)
	if err != nil {
		a.badBody(w, r, err)
		return
	}
	f := &formView{Username: echo(c.Username), Remember: c.Remember, Fields: map[string]string{}}
	f.Next, _ = localRedirect(c.Next)
	f.ReturnTo = a.returnTo(c.Rd)
	from := appAttrs(f.ReturnTo) // the audit lines say which app it started from
	if strings.TrimSpace(c.Username) == "" {
		f.Fields["username"] = "Enter your user name."
	}
	if c.Password == "" {
		f.Fields["password"] = "Enter your password."
	}
	if len(f.Fields) > 0 {
		a.formError(w, r, "login", "Sign In", http.StatusUnprocessableEntity, f, "Please fill in both fields.")
		return
	}

	var devToken string
	_, ok := a.passwordSignIn(w, r, c.Username, c.Password, from, signInAnswers{
		throttled: func(ref *throttle.Refused, userID int64, key string) {
			a.throttled(w, r, "sign_in", ref, userID, key, "login", "Sign In", f, from...)
		},
		failed: func(left int) { a.signInFailed(w, r, f, left) },
		start: func(u user.User) bool {
			var ok bool
			devToken, ok = a.startSession(w, r, u, c.Remember, from...)
			return ok
		},
		secondFactor: func(u user.User, factors mfa.Factors) { a.pendSecondFactor(w, r, u, factors, c.Remember, f) },
	})
	if !ok {
		return
	}
	target := nextOr(c.Next, "/account")
	if f.ReturnTo != "" {
		target = f.ReturnTo
	}
	a.signedIn(w, r, http.StatusOK, target, devToken)
}

// signInAnswers are how a password sign-in answers, where the sign-in form
// and the OAuth password grant differ: a refused attempt (after the audit
// line), a wrong name or password, and the start of the session (a
// browser session or a token session; on failure it has answered).
type signInAnswers struct {
	throttled func(ref *throttle.Refused, userID int64, key string)
	failed    func(left int)
	start     func(u user.User) bool
	// secondFactor answers a right password of an account that has a
	// second factor: nothing is signed in yet.
	secondFactor func(u user.User, f mfa.Factors)
}

// passwordSignIn is the one path of every sign-in with a name and a
// password, from the sign-in form or the OAuth password grant: device
// budgets and throttling, the 72-byte rule, the same work for unknown
// users, the audit lines and activity events, the new-device notice. It
// returns the user once ans.start has started the session; otherwise it
// has answered the request. A check that can still stop a correct password
// (a second factor) belongs here, before ans.start.
//
// Every failed path does the same work in the same order whether or not
// the name exists: an unknown user costs one bcrypt comparison, like a
// known one; a password over bcrypt's 72 bytes, which never matches (A2),
// is refused before the lookup for everyone; and the activity row is
// written off the response path.
func (a *app) passwordSignIn(w http.ResponseWriter, r *http.Request, name, pw string, from []slog.Attr, ans signInAnswers) (user.User, bool) {
	// A device that signed in to this account before has a budget of its
	// own; everyone else counts per account and per address. The attempt
	// is counted before bcrypt runs, so racing attempts cannot exceed the
	// limits, and a correct password during a lock-out fails.
	dev, err := a.trustedDevice(r, name)
	if err != nil {
		a.unavailable(w, r, err)
		return user.User{}, false
	}
	var devUser int64
	if dev != nil {
		devUser = dev.UserID
	}
	counters := a.loginCounters(r, name, dev)
	key := accountKey(name)
	taken, err := a.Throttle.Take(r.Context(), counters...)
	if err != nil {
		a.unavailable(w, r, err)
		return user.User{}, false
	}
	if taken.Refused != nil {
		// Refused unchecked, yet shown to the owner: the writer looks the
		// name up, off the response path.
		a.Metrics.SignIn("throttled")
		a.recordAttempt(r, name, devUser, activity.SignInThrottled)
		ans.throttled(taken.Refused, devUser, key)
		return user.User{}, false
	}

	var u user.User
	if len(pw) > password.MaxBytes {
		err = password.ErrMismatch
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), maxHashWait)
		defer cancel()
		u, err = a.authenticate(ctx, a.logger(r), name, pw)
	}
	switch {
	case errors.Is(err, password.ErrMismatch):
		a.Metrics.SignIn("failure")
		a.audit(r, "sign_in", "failure", u.ID, append([]slog.Attr{slog.String("account_key", key)}, from...)...)
		a.recordAttempt(r, name, u.ID, activity.SignInFailed)
		ans.failed(taken.Left)
		return user.User{}, false
	case err != nil:
		// Undecided (database down, or bcrypt busy too long): no failure
		// to count against the account, the address or the device.
		if err := a.Throttle.Refund(r.Context(), counters...); err != nil {
			a.logger(r).Warn("refund sign-in throttle", "err", err)
		}
		a.unavailable(w, r, err)
		return user.User{}, false
	}
	// A success resets the account's (or the device's) counter and gives
	// the address its slot back. A device's success leaves the account's
	// lock alone: it is the strangers' budget, not the owner's.
	if err := a.Throttle.Succeeded(r.Context(), counters[0], counters[1:]...); err != nil {
		// The counters expire on their own; the sign-in stands.
		a.logger(r).Warn("reset sign-in throttle", "user_id", u.ID, "err", err)
	}
	// An account with a second factor is not signed in by its password:
	// the form gets a pending session (M3), the password grant a refusal.
	factors, err := a.MFA.Factors(r.Context(), u.ID)
	if err != nil {
		a.unavailable(w, r, err) // fail closed: never skip a factor
		return user.User{}, false
	}
	if factors.Any() {
		ans.secondFactor(u, factors)
		return user.User{}, false
	}
	isNew := a.newDevice(r, u) // before this sign-in is recorded
	if !ans.start(u) {
		return user.User{}, false
	}
	// Written before the answer, not by the background writer, so that the
	// next sign-in's new-device check sees this one.
	a.recordNow(r, u.ID, activity.SignIn)
	if isNew {
		a.notifyNewDevice(r, u)
	}
	return u, true
}

// signInFailed answers a wrong user name or password, the same for both,
// warning when few attempts are left.
func (a *app) signInFailed(w http.ResponseWriter, r *http.Request, f *formView, left int) {
	warning := a.attemptsLeft(left)
	if wantsJSON(r) {
		body := map[string]any{"error": msgInvalidCredentials}
		if warning != "" {
			body["attempts_left"] = left
			body["warning"] = warning
		}
		writeJSON(w, http.StatusUnauthorized, body)
		return
	}
	msg := msgInvalidCredentials
	if warning != "" {
		msg += " " + warning
	}
	a.formError(w, r, "login", "Sign In", http.StatusUnauthorized, f, msg)
}

// returnTo returns the target of a sign-in or sign-out started from a
// protected app (rd): an allowed absolute URL (F2) or a local path, else "".
func (a *app) returnTo(rd string) string {
	if t, ok := localRedirect(rd); ok {
		return t
	}
	t, _ := a.Forward.ReturnTarget(rd)
	return t
}

// appAttrs names, for the audit lines, the host of the protected app a
// sign-in started from; none when it started at authd.
func appAttrs(returnTo string) []slog.Attr {
	scheme, rest, ok := strings.Cut(returnTo, "://")
	if !ok || scheme == "" {
		return nil
	}
	host, _, _ := strings.Cut(rest, "/")
	host, _, _ = strings.Cut(host, "?")
	host, _, _ = strings.Cut(host, "#")
	return []slog.Attr{slog.String("app", host)}
}

// startSession signs the user in on this request, with the audit line, and
// gives the client a new device token (returned for the JSON answer); on
// failure it has answered the request. The caller records the activity: a
// sign-in, or the password change that renewed the session.
func (a *app) startSession(w http.ResponseWriter, r *http.Request, u user.User, remember bool, extra ...slog.Attr) (string, bool) {
	return a.startSessionWith(w, r, session.Grant{UserID: u.ID, Name: u.Name, Epoch: u.Epoch, Remember: remember, Methods: []string{amrPassword}}, extra...)
}

// startSessionWith is startSession for a grant of any method.
func (a *app) startSessionWith(w http.ResponseWriter, r *http.Request, g session.Grant, extra ...slog.Attr) (string, bool) {
	u := user.User{ID: g.UserID}
	remember := g.Remember
	g.AuthAt = a.Now()
	evicted, err := a.Sessions.SignIn(w, r, g)
	switch {
	case errors.Is(err, session.ErrCredentialsChanged):
		// The password changed between the check and now: the old one no
		// longer signs in.
		a.audit(r, "sign_in", "failure", u.ID, append([]slog.Attr{slog.String("reason", "credentials changed")}, extra...)...)
		a.fail(w, r, http.StatusUnauthorized, "The password was changed just now. Please sign in with the new one.")
		return "", false
	case err != nil:
		a.unavailable(w, r, err)
		return "", false
	}
	a.Metrics.SignIn("success")
	a.audit(r, "sign_in", "success", u.ID, append([]slog.Attr{slog.Bool("remember", remember), slog.String("amr", strings.Join(g.Methods, " "))}, extra...)...)
	if evicted > 0 {
		a.audit(r, "session_revoke", "success", u.ID, slog.String("reason", "session cap"), slog.Int("sessions", evicted))
	}
	return a.issueDevice(w, u.ID), true
}

// signedIn answers a request that has just started a session: the user and
// the device token as JSON with jsonStatus, or a redirect to target.
func (a *app) signedIn(w http.ResponseWriter, r *http.Request, jsonStatus int, target, deviceToken string) {
	if wantsJSON(r) {
		info, _ := a.Sessions.Current(r.Context())
		writeJSON(w, jsonStatus, map[string]any{"user": userJSON(info), "device_token": deviceToken})
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
		} else if _, err := a.Users.RehashPassword(ctx, u.ID, u.PasswordHash, h); err != nil {
			log.Warn("store rehashed password", "user_id", u.ID, "err", err)
		}
	}
	return u, nil
}

// handleSignupForm shows the sign-up form.
func (a *app) handleSignupForm(w http.ResponseWriter, r *http.Request) {
	d := a.page(r, "Sign Up")
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
	f := &formView{Username: echo(c.Username), Email: echo(c.Email), Fields: map[string]string{}}
	if _, _, err := user.NormalizeName(c.Username); err != nil {
		f.Fields["username"] = userMessage(err)
	}
	address := strings.TrimSpace(c.Email)
	if address != "" {
		if _, _, err := user.NormalizeEmail(address); err != nil {
			f.Fields["email"] = userMessage(err)
		}
	}
	if err := password.Validate(c.Password); err != nil {
		f.Fields["password"] = capitalize(err.Error()) + "."
	} else if err := a.Passwords.Check(r.Context(), c.Password, strings.TrimSpace(c.Username), address); err != nil {
		f.Fields["password"] = capitalize(err.Error()) + "."
	}
	if len(f.Fields) > 0 {
		a.formError(w, r, "signup", "Sign Up", http.StatusUnprocessableEntity, f, "Please correct the fields below.")
		return
	}
	// Sign-up says when a name is taken, so it is limited like sign-in:
	// nobody can test many names from one address.
	if taken, err := a.Throttle.Take(r.Context(), a.signupCounter(r)); err != nil {
		a.unavailable(w, r, err)
		return
	} else if taken.Refused != nil {
		a.throttled(w, r, "sign_up", taken.Refused, 0, "", "signup", "Sign up", f)
		return
	}
	// Without Redis the new user could not be signed in: refuse before
	// creating the account rather than leave the name taken behind a 503.
	if err := a.Redis.Ping(r.Context()); err != nil {
		a.unavailable(w, r, fmt.Errorf("%w: %w", session.ErrUnavailable, err))
		return
	}
	hashCtx, cancel := context.WithTimeout(r.Context(), maxHashWait)
	defer cancel()
	hash, err := a.Hasher.Hash(hashCtx, c.Password)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	u, err := a.Users.Create(r.Context(), c.Username, hash)
	switch {
	case errors.Is(err, user.ErrDuplicateName):
		f.Fields["username"] = "That user name is taken."
		a.formError(w, r, "signup", "Sign Up", http.StatusConflict, f, "Please choose another user name.")
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	a.audit(r, "sign_up", "success", u.ID)
	if address != "" {
		// Used for nothing until confirmed; whether another account has it
		// is not said here (its owner is told by mail instead).
		if err := a.Users.SetPendingEmail(r.Context(), u.ID, address); err != nil {
			a.logger(r).Warn("pending address at sign-up", "user_id", u.ID, "err", err)
		} else if err := a.Mail.ConfirmAddress(r.Context(), u.ID, address); err != nil {
			a.logger(r).Error("confirmation mail not queued", "user_id", u.ID, "err", err)
		}
	}
	if _, err := a.Sessions.SignIn(w, r, session.Grant{UserID: u.ID, Name: u.Name, Epoch: u.Epoch, Methods: []string{amrPassword}}); err != nil {
		a.logger(r).Warn("sign-in after sign-up", "user_id", u.ID, "err", err)
		w.Header().Set("Retry-After", "5")
		a.fail(w, r, http.StatusServiceUnavailable, "Your account was created, but signing you in failed. Please sign in again in a moment.")
		return
	}
	a.audit(r, "sign_in", "success", u.ID)
	a.record(r, u.ID, activity.SignIn)
	a.setNotice(w, r, noticeWelcome, "")
	a.signedIn(w, r, http.StatusCreated, "/account", a.issueDevice(w, u.ID))
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
		a.record(r, info.UserID, activity.SignOut)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]bool{"signed_out": true})
		return
	}
	// A sign-out form on a protected app may say where to go afterwards.
	target := "/?" + signedOutQuery
	if r.ParseForm() == nil {
		if t := a.returnTo(r.PostForm.Get("rd")); t != "" {
			target = t
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
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
// userID is 0 when no account is known.
func (a *app) audit(r *http.Request, event, outcome string, userID int64, extra ...slog.Attr) {
	attrs := append([]slog.Attr{
		slog.String("event", event),
		slog.String("outcome", outcome),
		slog.Int64("user_id", userID),
		slog.String("client", a.ClientAddr(r)),
	}, extra...)
	a.logger(r).LogAttrs(r.Context(), slog.LevelInfo, "audit", attrs...)
}

// record adds an event to the user's activity, off the response path (see
// activity.Writer): the event has happened, and neither a slow database nor
// a failing one may delay or fail the answer.
func (a *app) record(r *http.Request, userID int64, kind activity.Kind) {
	if userID == 0 {
		return
	}
	a.events.Record(activity.Event{UserID: userID, Kind: kind, ClientAddr: a.ClientAddr(r), UserAgent: r.UserAgent()})
}

// recordNow adds a successful sign-in to the user's activity on the
// request path, handing it to the background writer if the database
// refuses. Only successes write here: failed paths must all cost the same.
func (a *app) recordNow(r *http.Request, userID int64, kind activity.Kind) {
	e := activity.Event{UserID: userID, Kind: kind, ClientAddr: a.ClientAddr(r), UserAgent: r.UserAgent()}
	// Failures queued before this success are written first, so that the
	// rows keep the order of the events (a run of strangers' attempts ends
	// at the owner's sign-in). Without it, a fast machine wrote the success
	// ahead of the failures still queued and merged runs it should not.
	ctx, cancel := context.WithTimeout(r.Context(), activityFlushWait)
	defer cancel()
	if err := a.events.Flush(ctx); err != nil {
		a.logger(r).Warn("activity: queued events not yet written before a sign-in", "user_id", userID, "err", err)
	}
	if err := a.Activity.Record(r.Context(), e); err != nil {
		a.logger(r).Warn("record activity; queued instead", "user_id", userID, "err", err)
		a.events.Record(e)
	}
}

// recordAttempt adds a failed or refused sign-in to the activity of the
// account it named: by id when the handler knows it, else by name, which
// the writer looks up later (and drops when there is no such account). The
// handler's work is the same either way.
func (a *app) recordAttempt(r *http.Request, name string, userID int64, kind activity.Kind) {
	e := activity.Event{UserID: userID, Kind: kind, ClientAddr: a.ClientAddr(r), UserAgent: r.UserAgent()}
	if userID == 0 {
		e.Account = name
	}
	a.events.Record(e)
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
