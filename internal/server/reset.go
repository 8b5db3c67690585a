package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/mail"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/user"
)

// msgResetSent is the one answer to "forgot password", whoever asked.
const msgResetSent = "If that matches an account with a confirmed e-mail address, a link to choose a new password is on its way there. It works once, within 30 minutes."

// msgBadLink is the one answer for an e-mailed link that cannot be used:
// unknown, used, expired or replaced, the page says the same.
const msgBadLink = "This link is invalid, has expired or was already used. Please ask for a new one."

// maxLoginLen bounds what "forgot password" accepts: a user name or an
// address, never longer than an address may be.
const maxLoginLen = user.MaxEmailLen

// forgotForm is the body of POST /forgot.
type forgotForm struct {
	Login string `json:"login"`
}

func (f *forgotForm) fromForm(v url.Values) { f.Login = v.Get("login") }

// resetForm is the body of POST /reset.
type resetForm struct {
	Token   string `json:"token"`
	New     string `json:"new_password"`
	Confirm string `json:"confirm_password"`
}

func (f *resetForm) fromForm(v url.Values) {
	f.Token, f.New, f.Confirm = v.Get("token"), v.Get("new_password"), v.Get("confirm_password")
}

// handleForgotForm asks for a user name or an address.
func (a *app) handleForgotForm(w http.ResponseWriter, r *http.Request) {
	d := a.page(r, "Forgot Password")
	d.Form = &formView{}
	a.render(w, r, http.StatusOK, "forgot", d)
}

// handleForgotSubmit asks for a reset link. It answers the same, after the
// same work, whether the name or address is known or not (R2): one lookup,
// two throttle scripts, one outbox insert; the mail worker decides later
// whether there is anything to send. Only the limit per client address
// answers 429: the limits per account and per address would tell that an
// account exists, so past them the request is answered as usual and sends
// nothing.
func (a *app) handleForgotSubmit(w http.ResponseWriter, r *http.Request) {
	var f forgotForm
	if err := decodeBody(r, &f, f.fromForm); err != nil {
		a.badBody(w, r, err)
		return
	}
	login := strings.TrimSpace(f.Login)
	view := &formView{Login: echo(login), Fields: map[string]string{}}
	if login == "" || len(login) > maxLoginLen {
		view.Fields["login"] = "Enter your user name or e-mail address."
		a.formError(w, r, "forgot", "Forgot Password", http.StatusUnprocessableEntity, view, "Please fill in the field.")
		return
	}
	client := throttle.Counter{Scope: "reset_client", Key: throttle.AddressKey(a.ClientAddr(r)), Limit: a.Limits.ResetClients, Window: a.Limits.Window}
	if taken, err := a.Throttle.Take(r.Context(), client); err != nil {
		a.unavailable(w, r, err)
		return
	} else if taken.Refused != nil {
		a.throttled(w, r, "password_reset_request", taken.Refused, 0, "", "forgot", "Forgot Password", view)
		return
	}
	u, err := a.Users.ByLogin(r.Context(), login)
	found := err == nil
	if err != nil && !errors.Is(err, user.ErrNotFound) {
		a.unavailable(w, r, err)
		return
	}
	target, acct := a.resetCounters(login, u, found)
	taken, err := a.Throttle.Take(r.Context(), target, acct)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	uid, outcome := u.ID, "requested"
	switch {
	case !found:
		outcome = "unknown"
	case taken.Refused != nil:
		uid, outcome = 0, "throttled"
	}
	if err := a.Mail.ResetPassword(r.Context(), uid); errors.Is(err, mail.ErrFull) {
		a.logger(r).Error("mail outbox full: reset request dropped", "user_id", u.ID)
	} else if err != nil {
		a.unavailable(w, r, err)
		return
	}
	attrs := []slog.Attr{}
	if taken.Refused != nil {
		attrs = append(attrs, slog.String("scope", taken.Refused.Scope))
	}
	a.audit(r, "password_reset_request", outcome, u.ID, attrs...)
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"message": msgResetSent})
		return
	}
	d := a.page(r, "Forgot Password")
	d.Notice = msgResetSent
	a.render(w, r, http.StatusOK, "forgot", d)
}

// resetCounters are the silent limits of a reset request: per address (the
// confirmed address of the account found, or what was typed) and per
// account (or, for nobody, again what was typed, so that an unknown login
// runs the same script with the same number of keys as a known one).
func (a *app) resetCounters(login string, u user.User, found bool) (target, acct throttle.Counter) {
	typed := "login:" + strings.ToLower(login)
	targetKey, acctKey := typed, typed
	if found {
		acctKey = "user:" + strconv.FormatInt(u.ID, 10)
		if u.Email != "" {
			targetKey = "email:" + strings.ToLower(u.Email)
		}
	}
	n, window := a.Limits.ResetRequests, a.Limits.Window
	return throttle.Counter{Scope: "reset_address", Key: throttle.AccountKey(targetKey), Limit: n, Window: window},
		throttle.Counter{Scope: "reset_account", Key: throttle.AccountKey(acctKey), Limit: n, Window: window}
}

// resetToken returns the live reset token's user, or answers the request.
// A token issued before the user's last password change is dead: the
// credential epoch it carries is no longer the user's.
func (a *app) resetToken(w http.ResponseWriter, r *http.Request, token string) (user.User, bool) {
	tok, err := a.Tokens.Peek(r.Context(), emailtoken.Reset, token)
	if err == nil {
		var u user.User
		if u, err = a.Users.ByID(r.Context(), tok.UserID); err == nil && u.Epoch == tok.Epoch && u.Email == tok.Address {
			return u, true
		} else if err == nil || errors.Is(err, user.ErrNotFound) {
			err = emailtoken.ErrInvalid
		}
	}
	if errors.Is(err, emailtoken.ErrInvalid) {
		a.fail(w, r, http.StatusBadRequest, msgBadLink)
	} else {
		a.unavailable(w, r, err)
	}
	return user.User{}, false
}

// handleResetForm is the page a reset link opens: the new-password form.
// Opening it does not use the link up (mail scanners open links too).
func (a *app) handleResetForm(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	token := r.URL.Query().Get("token")
	u, ok := a.resetToken(w, r, token)
	if !ok {
		return
	}
	d := a.page(r, "Choose a New Password")
	d.Form = &formView{Token: token, Username: u.Name}
	a.render(w, r, http.StatusOK, "reset", d)
}

// handleResetSubmit sets the new password with a reset token: the token is
// used up, the credential epoch bumped and every session of the account
// ended on every instance (R3), the user notified, and this browser signed
// in.
func (a *app) handleResetSubmit(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	var f resetForm
	if err := decodeBody(r, &f, f.fromForm); err != nil {
		a.badBody(w, r, err)
		return
	}
	u, ok := a.resetToken(w, r, f.Token)
	if !ok {
		return
	}
	view := &formView{Token: f.Token, Username: u.Name, Fields: map[string]string{}}
	if err := password.Validate(f.New); err != nil {
		view.Fields["new_password"] = capitalize(err.Error()) + "."
	} else if err := a.Passwords.Check(r.Context(), f.New, u.Name, u.Email); err != nil {
		view.Fields["new_password"] = capitalize(err.Error()) + "."
	} else if f.Confirm != "" && f.Confirm != f.New {
		view.Fields["confirm_password"] = "The two new passwords differ."
	}
	if len(view.Fields) > 0 {
		a.formError(w, r, "reset", "Choose a New Password", http.StatusUnprocessableEntity, view, "Please correct the fields below.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), maxHashWait)
	defer cancel()
	hash, err := a.Hasher.Hash(ctx, f.New)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	// Used up only now, so that a busy hasher does not cost the user
	// their link; of two racing submissions, one gets it.
	tok, err := a.Tokens.Consume(r.Context(), emailtoken.Reset, f.Token)
	if errors.Is(err, emailtoken.ErrInvalid) || (err == nil && (tok.UserID != u.ID || tok.Epoch != u.Epoch)) {
		a.fail(w, r, http.StatusBadRequest, msgBadLink)
		return
	} else if err != nil {
		a.unavailable(w, r, err)
		return
	}
	epoch, err := a.Users.ChangePassword(r.Context(), u.ID, hash)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	n, err := a.revokeAll(r, u.ID, epoch)
	if err != nil {
		a.logger(r).Error("password reset but sessions not ended; run: authd session revoke NAME --all", "user_id", u.ID, "err", err)
		a.unavailable(w, r, err)
		return
	}
	a.audit(r, "password_reset", "success", u.ID)
	a.audit(r, "session_revoke", "success", u.ID, slog.Int("sessions", n), slog.String("reason", "password reset"))
	a.record(r, u.ID, activity.PasswordReset)
	if err := a.Mail.PasswordReset(r.Context(), u.ID, a.device(r)); err != nil {
		a.logger(r).Error("password reset notice not queued", "user_id", u.ID, "err", err)
	}
	u.PasswordHash, u.Epoch = hash, epoch
	a.signInAfterReset(w, r, u, n)
}

// signInAfterReset signs this browser in once a reset is complete. An
// account with a second factor gets a pending session and the second
// step instead: the mailbox alone never signs in.
func (a *app) signInAfterReset(w http.ResponseWriter, r *http.Request, u user.User, ended int) {
	if a.beginSecondFactor(w, r, u, false, &formView{}) {
		return
	}
	devToken, ok := a.startSession(w, r, u, false)
	if !ok {
		return
	}
	if wantsJSON(r) {
		info, _ := a.Sessions.Current(r.Context())
		writeJSON(w, http.StatusOK, map[string]any{"password_reset": true, "sessions_ended": ended, "user": userJSON(info), "device_token": devToken})
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// noReferrer keeps a page whose URL holds a token from naming it in the
// Referer of anything it links to, even on this site.
func noReferrer(w http.ResponseWriter) {
	w.Header().Set("Referrer-Policy", "no-referrer")
}
