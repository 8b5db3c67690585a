package server

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/user"
)

// Authentication methods, as a session records them (OpenID's amr values,
// RFC 8176): password, one-time password, hardware key, and ours for a
// recovery code.
const (
	amrPassword = "pwd"
	amrOTP      = "otp"
	amrPasskey  = "hwk"
	amrRecovery = "rec"
)

// secondFactor is the body of POST /login/2fa: one of code (authenticator
// app) and recovery_code, with the sign-in's targets carried through.
type secondFactor struct {
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
	Next         string `json:"next"`
	Rd           string `json:"rd"`
}

func (s *secondFactor) fromForm(f url.Values) {
	s.Code, s.RecoveryCode = f.Get("code"), f.Get("recovery_code")
	s.Next, s.Rd = f.Get("next"), f.Get("rd")
}

// maxCodeLen bounds a submitted code; longer input is simply wrong.
const maxCodeLen = 64

// beginSecondFactor ends the password step of an account that has a
// second factor: the session becomes pending under a new token (M3), and
// the client is sent to the second-factor page, or told so in JSON. It
// reports false when the account has no second factor (the caller signs
// in) or when it has answered an error.
func (a *app) beginSecondFactor(w http.ResponseWriter, r *http.Request, u user.User, remember bool, f *formView) (handled bool) {
	factors, err := a.MFA.Factors(r.Context(), u.ID)
	if err != nil {
		a.unavailable(w, r, err) // fail closed: never skip a factor
		return true
	}
	if !factors.Any() {
		return false
	}
	a.pendSecondFactor(w, r, u, factors, remember, f)
	return true
}

// pendSecondFactor starts the pending session of an account with factors
// and answers: the second-step page, or JSON naming its methods.
func (a *app) pendSecondFactor(w http.ResponseWriter, r *http.Request, u user.User, factors mfa.Factors, remember bool, f *formView) {
	_, err := a.Sessions.SignIn(w, r, session.Grant{UserID: u.ID, Name: u.Name, Epoch: u.Epoch, Remember: remember, Pending: true, Methods: []string{amrPassword}})
	switch {
	case errors.Is(err, session.ErrCredentialsChanged):
		a.fail(w, r, http.StatusUnauthorized, "The password was changed just now. Please sign in with the new one.")
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	a.audit(r, "sign_in", "second_factor_required", u.ID)
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"second_factor_required": true, "methods": factors.Methods()})
		return
	}
	q := url.Values{}
	if f.Next != "" {
		q.Set("next", f.Next)
	}
	if f.ReturnTo != "" {
		q.Set("rd", f.ReturnTo)
	}
	target := "/login/2fa"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// handleSecondFactorForm asks a pending session for its second factor.
func (a *app) handleSecondFactorForm(w http.ResponseWriter, r *http.Request) {
	info, ok := a.Sessions.Pending(r.Context())
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	f := &formView{}
	f.Next, _ = localRedirect(r.URL.Query().Get("next"))
	f.ReturnTo = a.returnTo(r.URL.Query().Get("rd"))
	a.renderSecondFactor(w, r, http.StatusOK, info, f)
}

func (a *app) renderSecondFactor(w http.ResponseWriter, r *http.Request, status int, info session.Info, f *formView) {
	d := a.page(r, "Second Step")
	factors, err := a.MFA.Factors(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	d.Factors = &factors
	d.Form = f
	d.Scripts = factors.Passkeys > 0 && a.WebAuthn != nil // the passkey button
	a.render(w, r, status, "secondfactor", d)
}

// factorCounter limits wrong second-factor codes per account, like
// passwords (M1): the pending session's account, whoever holds it.
func (a *app) factorCounter(userID int64) throttle.Counter {
	return throttle.Counter{Scope: "factor", Key: "u" + strconv.FormatInt(userID, 10), Limit: a.Limits.AccountFailures, Window: a.Limits.Window}
}

// handleSecondFactorSubmit checks the pending session's code and, when it
// is right, signs in under a new token (M3).
func (a *app) handleSecondFactorSubmit(w http.ResponseWriter, r *http.Request) {
	info, ok := a.Sessions.Pending(r.Context())
	if !ok {
		if wantsJSON(r) {
			a.fail(w, r, http.StatusUnauthorized, "No sign-in is waiting for a second factor. Please sign in again.")
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	var s secondFactor
	if err := decodeBody(r, &s, s.fromForm); err != nil {
		a.badBody(w, r, err)
		return
	}
	f := &formView{Fields: map[string]string{}}
	f.Next, _ = localRedirect(s.Next)
	f.ReturnTo = a.returnTo(s.Rd)
	code, recovery := strings.TrimSpace(s.Code), strings.TrimSpace(s.RecoveryCode)
	if code == "" && recovery == "" {
		f.Fields["code"] = "Enter the code from your authenticator app, or a recovery code."
		a.secondFactorError(w, r, http.StatusUnprocessableEntity, info, f, "Please enter a code.")
		return
	}
	counter := a.factorCounter(info.UserID)
	taken, err := a.Throttle.Take(r.Context(), counter)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if taken.Refused != nil {
		a.record(r, info.UserID, activity.SignInThrottled)
		a.throttledFactor(w, r, taken.Refused, info, f)
		return
	}
	method, kind := amrOTP, activity.SignInTOTP
	switch {
	case len(code) > maxCodeLen || len(recovery) > maxCodeLen:
		err = mfa.ErrInvalidCode
	case recovery != "":
		method, kind = amrRecovery, activity.SignInRecovery
		err = a.MFA.UseRecoveryCode(r.Context(), info.UserID, recovery)
	default:
		err = a.MFA.VerifyTOTP(r.Context(), info.UserID, code)
	}
	switch {
	case errors.Is(err, mfa.ErrInvalidCode):
		a.audit(r, "second_factor", "failure", info.UserID)
		a.record(r, info.UserID, activity.SecondFactorFailed)
		msg := "That code is not right (or was used already)."
		if warning := a.attemptsLeft(taken.Left); warning != "" {
			msg += " " + warning
		}
		a.secondFactorError(w, r, http.StatusUnauthorized, info, f, msg)
		return
	case err != nil:
		if err := a.Throttle.Refund(r.Context(), counter); err != nil {
			a.logger(r).Warn("refund factor throttle", "err", err)
		}
		a.unavailable(w, r, err)
		return
	}
	if err := a.Throttle.Succeeded(r.Context(), counter); err != nil {
		a.logger(r).Warn("reset factor throttle", "user_id", info.UserID, "err", err)
	}
	a.completeSignIn(w, r, info, append(info.Methods, method), kind, f)
}

// completeSignIn turns a pending session into a signed-in one under a new
// token, after its second factor (or a passkey) was right.
func (a *app) completeSignIn(w http.ResponseWriter, r *http.Request, info session.Info, methods []string, kind activity.Kind, f *formView) {
	u, err := a.Users.ByID(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	isNew := a.newDevice(r, u)
	devToken, ok := a.startSessionWith(w, r, session.Grant{UserID: u.ID, Name: u.Name, Epoch: u.Epoch, Remember: info.Remember, Methods: methods})
	if !ok {
		return
	}
	a.recordNow(r, u.ID, kind)
	if isNew {
		a.notifyNewDevice(r, u)
	}
	target := nextOr(f.Next, "/account")
	if f.ReturnTo != "" {
		target = f.ReturnTo
	}
	if wantsJSON(r) {
		now, _ := a.Sessions.Current(r.Context())
		writeJSON(w, http.StatusOK, map[string]any{"user": userJSON(now), "device_token": devToken, "methods": methods, "next": target})
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (a *app) secondFactorError(w http.ResponseWriter, r *http.Request, status int, info session.Info, f *formView, msg string) {
	if wantsJSON(r) {
		body := map[string]any{"error": msg}
		if len(f.Fields) > 0 {
			body["fields"] = f.Fields
		}
		writeJSON(w, status, body)
		return
	}
	f.Error = msg
	a.renderSecondFactor(w, r, status, info, f)
}

// throttledFactor answers 429 to a second-factor attempt over the limit.
func (a *app) throttledFactor(w http.ResponseWriter, r *http.Request, ref *throttle.Refused, info session.Info, f *formView) {
	a.audit(r, "second_factor", "throttled", info.UserID)
	a.Metrics.Throttled(ref.Scope)
	secs := max(1, int(ref.RetryAfter.Seconds()+0.999))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	msg := "Too many wrong codes. Please try again in " + humanDuration(ref.RetryAfter) + "."
	if wantsJSON(r) {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": msg, "retry_after": secs})
		return
	}
	f.Error = msg
	a.renderSecondFactor(w, r, http.StatusTooManyRequests, info, f)
}
