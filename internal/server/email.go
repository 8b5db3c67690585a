package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/user"
)

// emailChange is the body of POST /account/email and /api/email. An empty
// address removes the account's address.
type emailChange struct {
	Email   string `json:"email"`
	Current string `json:"current_password"`
}

func (e *emailChange) fromForm(v url.Values) {
	e.Email, e.Current = v.Get("email"), v.Get("current_password")
}

// verifyForm is the body of POST /email/verify.
type verifyForm struct {
	Token string `json:"token"`
}

func (f *verifyForm) fromForm(v url.Values) { f.Token = v.Get("token") }

// emailJSON is the JSON view of the account's addresses.
type emailJSON struct {
	Email   string `json:"email"`
	Pending string `json:"pending"`
}

// handleEmail shows the account's address, and the one waiting for
// confirmation, with the form to change them.
func (a *app) handleEmail(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	u, err := a.Users.ByID(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, emailJSON{Email: u.Email, Pending: u.EmailPending})
		return
	}
	d := a.page(r, "E-mail Address")
	d.Account, d.Form = &u, &formView{}
	a.render(w, r, http.StatusOK, "email", d)
}

// handleEmailSubmit sets a new address to confirm, or removes the address.
// It needs the current password: whoever takes over the address can reset
// the password. (Issue 10 replaces that with step-up once it lands.) The
// new address is used for nothing until its link is followed; the old
// one stays in force until then and is told when it is replaced.
func (a *app) handleEmailSubmit(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	var e emailChange
	if err := decodeBody(r, &e, e.fromForm); err != nil {
		a.badBody(w, r, err)
		return
	}
	f := &formView{Email: echo(e.Email), Fields: map[string]string{}}
	address := strings.TrimSpace(e.Email)
	if address != "" {
		if _, _, err := user.NormalizeEmail(address); err != nil {
			f.Fields["email"] = userMessage(err)
		}
	}
	if e.Current == "" {
		f.Fields["current_password"] = "Enter your current password."
	}
	if len(f.Fields) > 0 {
		a.emailFormError(w, r, info.UserID, http.StatusUnprocessableEntity, f, "Please correct the fields below.")
		return
	}

	// Wrong current passwords count against this session's own budget, as
	// on the password page: a hijacked session gets only so many guesses,
	// and a stranger's lock on the account never stops the owner.
	budget := a.passwordCounters(r, info)
	taken, err := a.Throttle.Take(r.Context(), budget...)
	if err != nil {
		a.unavailable(w, r, err)
		return
	} else if taken.Refused != nil {
		a.throttled(w, r, "email_change", taken.Refused, info.UserID, "", "email", "E-mail Address", f)
		return
	}
	u, err := a.Users.ByID(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), maxHashWait)
	defer cancel()
	if _, err := a.Hasher.Verify(ctx, u.PasswordHash, e.Current); errors.Is(err, password.ErrMismatch) {
		a.audit(r, "email_change", "failure", u.ID)
		a.record(r, u.ID, activity.EmailChangeFailed)
		f.Fields["current_password"] = "That is not your current password."
		a.emailFormError(w, r, u.ID, http.StatusUnauthorized, f, "Your address was not changed.")
		return
	} else if err != nil {
		if err := a.Throttle.Refund(r.Context(), budget...); err != nil {
			a.logger(r).Warn("refund throttle", "err", err)
		}
		a.unavailable(w, r, err)
		return
	}
	if err := a.Throttle.Succeeded(r.Context(), budget[0], budget[1:]...); err != nil {
		a.logger(r).Warn("reset throttle", "user_id", u.ID, "err", err)
	}

	var notice string
	switch _, key, _ := user.NormalizeEmail(address); {
	case address == "":
		old, err := a.Users.RemoveEmail(r.Context(), u.ID)
		if err != nil {
			a.unavailable(w, r, err)
			return
		}
		if err := a.Mail.AddressChanged(r.Context(), u.ID, old, "", a.device(r)); err != nil {
			a.logger(r).Error("address change notice not queued", "user_id", u.ID, "err", err)
		}
		a.audit(r, "email_remove", "success", u.ID)
		a.record(r, u.ID, activity.EmailRemoved)
		u.Email, u.EmailPending = "", ""
		notice = "Your account has no e-mail address now."
	case key == strings.ToLower(u.Email):
		notice = "That is already your address."
	default:
		if err := a.Users.SetPendingEmail(r.Context(), u.ID, address); err != nil {
			a.unavailable(w, r, err)
			return
		}
		if err := a.Mail.ConfirmAddress(r.Context(), u.ID, address); err != nil {
			// The address is pending; asking again sends a new link.
			a.logger(r).Error("confirmation mail not queued", "user_id", u.ID, "err", err)
		}
		a.audit(r, "email_change", "requested", u.ID)
		a.record(r, u.ID, activity.EmailChangeRequested)
		u.EmailPending = address
		notice = "We sent a confirmation link to " + address + ". The address is used once you follow it."
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, emailJSON{Email: u.Email, Pending: u.EmailPending})
		return
	}
	d := a.page(r, "E-mail Address")
	d.Account, d.Form, d.Notice = &u, &formView{}, notice
	a.render(w, r, http.StatusOK, "email", d)
}

// emailFormError re-shows the e-mail page with what was wrong.
func (a *app) emailFormError(w http.ResponseWriter, r *http.Request, userID int64, status int, f *formView, msg string) {
	if wantsJSON(r) {
		a.formError(w, r, "email", "E-mail Address", status, f, msg)
		return
	}
	u, err := a.Users.ByID(r.Context(), userID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	f.Error = msg
	d := a.page(r, "E-mail Address")
	d.Account, d.Form = &u, f
	a.render(w, r, status, "email", d)
}

// verifyToken returns the live confirmation token and its user, or answers
// the request. The token must confirm the address still pending.
func (a *app) verifyToken(w http.ResponseWriter, r *http.Request, token string, consume bool) (emailtoken.Token, user.User, bool) {
	use := a.Tokens.Peek
	if consume {
		use = a.Tokens.Consume
	}
	tok, err := use(r.Context(), emailtoken.Verify, token)
	var u user.User
	if err == nil {
		if u, err = a.Users.ByID(r.Context(), tok.UserID); err == nil && u.EmailPending != tok.Address {
			err = emailtoken.ErrInvalid
		} else if errors.Is(err, user.ErrNotFound) {
			err = emailtoken.ErrInvalid
		}
	}
	switch {
	case err == nil:
		return tok, u, true
	case errors.Is(err, emailtoken.ErrInvalid):
		a.fail(w, r, http.StatusBadRequest, msgBadLink)
	default:
		a.unavailable(w, r, err)
	}
	return emailtoken.Token{}, user.User{}, false
}

// handleVerifyForm is the page a confirmation link opens. Opening it
// changes nothing (mail scanners open links); its button does.
func (a *app) handleVerifyForm(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	token := r.URL.Query().Get("token")
	tok, u, ok := a.verifyToken(w, r, token, false)
	if !ok {
		return
	}
	d := a.page(r, "Confirm Your E-mail Address")
	d.Form = &formView{Token: token, Username: u.Name, Email: tok.Address}
	a.render(w, r, http.StatusOK, "verify", d)
}

// handleVerifySubmit confirms the address: it becomes the account's, and
// the address it replaces is told.
func (a *app) handleVerifySubmit(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	var f verifyForm
	if err := decodeBody(r, &f, f.fromForm); err != nil {
		a.badBody(w, r, err)
		return
	}
	tok, u, ok := a.verifyToken(w, r, f.Token, true)
	if !ok {
		return
	}
	old, err := a.Users.ConfirmEmail(r.Context(), u.ID, tok.Address)
	switch {
	case errors.Is(err, user.ErrDuplicateEmail):
		// Only the address's reader gets here, so saying it is no leak.
		a.fail(w, r, http.StatusConflict, "This address is already used by another account.")
		return
	case errors.Is(err, user.ErrNotPending), errors.Is(err, user.ErrNotFound):
		a.fail(w, r, http.StatusBadRequest, msgBadLink)
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	a.audit(r, "email_confirm", "success", u.ID)
	a.record(r, u.ID, activity.EmailConfirmed)
	if !strings.EqualFold(old, tok.Address) {
		if err := a.Mail.AddressChanged(r.Context(), u.ID, old, tok.Address, a.device(r)); err != nil {
			a.logger(r).Error("address change notice not queued", "user_id", u.ID, "err", err)
		}
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"email": tok.Address, "confirmed": true})
		return
	}
	d := a.page(r, "E-mail Address Confirmed")
	d.Notice = "The address " + tok.Address + " is now the e-mail address of " + u.Name + "."
	a.render(w, r, http.StatusOK, "verify", d)
}
