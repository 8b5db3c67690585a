package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/session"
)

// recentAuth reports whether the session authenticated (signed in, or
// confirmed its password or a factor again) within StepUpWindow.
func (a *app) recentAuth(info session.Info) bool {
	return a.Now().Sub(info.AuthAt) < a.StepUpWindow
}

// stepUp guards a sensitive change (M4): a session that authenticated
// longer ago than StepUpWindow is asked to authenticate again, then sent
// back to the page of the action (back); JSON clients get 403 with
// "step_up_required", and repeat the request after POST /api/reauth.
func (a *app) stepUp(back string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info, _ := a.Sessions.Current(r.Context()) // requireUser checked it
			if a.recentAuth(info) {
				next.ServeHTTP(w, r)
				return
			}
			a.audit(r, "step_up", "required", info.UserID)
			if wantsJSON(r) {
				writeJSON(w, http.StatusForbidden, map[string]any{"error": "Please confirm it is you: authenticate again.", "step_up_required": true})
				return
			}
			http.Redirect(w, r, "/account/reauth?next="+url.QueryEscape(back), http.StatusSeeOther)
		})
	}
}

// reauth is the body of POST /account/reauth: the password, or a code of
// the authenticator app.
type reauth struct {
	Password string `json:"password"`
	Code     string `json:"code"`
	Next     string `json:"next"`
}

func (p *reauth) fromForm(f url.Values) {
	p.Password, p.Code, p.Next = f.Get("password"), f.Get("code"), f.Get("next")
}

// handleReauthForm asks the signed-in user to confirm it is them.
func (a *app) handleReauthForm(w http.ResponseWriter, r *http.Request) {
	f := &formView{}
	f.Next, _ = localRedirect(r.URL.Query().Get("next"))
	a.renderReauth(w, r, http.StatusOK, f)
}

func (a *app) renderReauth(w http.ResponseWriter, r *http.Request, status int, f *formView) {
	d := a.page(r, "Confirm It Is You")
	factors, err := a.MFA.Factors(r.Context(), d.Session.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	d.Factors = &factors
	d.Form = f
	a.render(w, r, status, "reauth", d)
}

// handleReauthSubmit checks the password or a TOTP code and renews the
// session under a new token, which makes its authentication recent.
func (a *app) handleReauthSubmit(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	var p reauth
	if err := decodeBody(r, &p, p.fromForm); err != nil {
		a.badBody(w, r, err)
		return
	}
	f := &formView{Fields: map[string]string{}}
	f.Next, _ = localRedirect(p.Next)
	code := strings.TrimSpace(p.Code)
	if p.Password == "" && code == "" {
		f.Fields["password"] = "Enter your password."
		a.reauthError(w, r, http.StatusUnprocessableEntity, f, "Please enter your password or a code.")
		return
	}
	counters := a.passwordCounters(r, info)
	if code != "" {
		counters = append(counters, a.factorCounter(info.UserID))
	}
	taken, err := a.Throttle.Take(r.Context(), counters...)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if taken.Refused != nil {
		a.throttled(w, r, "step_up", taken.Refused, info.UserID, "", "reauth", "Confirm It Is You", f)
		return
	}
	u, err := a.Users.ByID(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	method := amrPassword
	switch {
	case code != "":
		method = amrOTP
		if len(code) > maxCodeLen {
			err = mfa.ErrInvalidCode
		} else {
			err = a.MFA.VerifyTOTP(r.Context(), u.ID, code)
		}
	case len(p.Password) > password.MaxBytes:
		err = password.ErrMismatch
	default:
		ctx, cancel := context.WithTimeout(r.Context(), maxHashWait)
		defer cancel()
		_, err = a.Hasher.Verify(ctx, u.PasswordHash, p.Password)
	}
	switch {
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, password.ErrMismatch):
		a.audit(r, "step_up", "failure", u.ID)
		a.reauthError(w, r, http.StatusUnauthorized, f, "That is not right.")
		return
	case err != nil:
		if err := a.Throttle.Refund(r.Context(), counters...); err != nil {
			a.logger(r).Warn("refund step-up throttle", "err", err)
		}
		a.unavailable(w, r, err)
		return
	}
	if err := a.Throttle.Succeeded(r.Context(), counters[0], counters[1:]...); err != nil {
		a.logger(r).Warn("reset step-up throttle", "user_id", u.ID, "err", err)
	}
	methods := info.Methods
	if !containsString(methods, method) {
		methods = append(methods, method)
	}
	devToken, ok := a.startSessionWith(w, r, session.Grant{UserID: u.ID, Name: u.Name, Epoch: u.Epoch, Remember: info.Remember, Methods: methods})
	if !ok {
		return
	}
	a.audit(r, "step_up", "success", u.ID)
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"reauthenticated": true, "device_token": devToken})
		return
	}
	http.Redirect(w, r, nextOr(f.Next, "/account"), http.StatusSeeOther)
}

func (a *app) reauthError(w http.ResponseWriter, r *http.Request, status int, f *formView, msg string) {
	if wantsJSON(r) {
		writeJSON(w, status, map[string]any{"error": msg})
		return
	}
	f.Error = msg
	a.renderReauth(w, r, status, f)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
