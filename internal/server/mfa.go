package server

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/session"
)

// mfaView is what the two-factor pages show beyond the factors.
type mfaView struct {
	// Secret is the TOTP secret being set up, in base32 for typing.
	Secret string
	// Codes are new recovery codes, shown once.
	Codes []string
	// Passkeys are the account's passkeys.
	Passkeys []mfa.Passkey
}

// handleTwoFactor shows the account's second factors.
func (a *app) handleTwoFactor(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	factors, err := a.MFA.Factors(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	keys, err := a.MFA.Passkeys(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"totp": factors.TOTP, "recovery_codes_left": factors.RecoveryLeft, "passkeys": passkeysJSON(keys), "methods": info.Methods})
		return
	}
	d := a.page(r, "Two-Factor Authentication")
	d.Factors, d.MFA, d.Scripts = &factors, &mfaView{Passkeys: keys}, a.WebAuthn != nil
	a.render(w, r, http.StatusOK, "twofactor", d)
}

// handleTOTPBegin draws a new secret and shows the set-up page.
func (a *app) handleTOTPBegin(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	key, err := a.MFA.BeginTOTP(r.Context(), info.UserID, info.Name)
	switch {
	case errors.Is(err, mfa.ErrEnrolled):
		a.fail(w, r, http.StatusConflict, "An authenticator app is set up already. Remove it first to set up another.")
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusCreated, map[string]string{"secret": key.Secret(), "otpauth_url": key.URL()})
		return
	}
	http.Redirect(w, r, "/account/2fa/totp", http.StatusSeeOther)
}

// handleTOTPSetup shows the QR code and secret being set up, with the
// form for the first code.
func (a *app) handleTOTPSetup(w http.ResponseWriter, r *http.Request) {
	a.renderTOTPSetup(w, r, http.StatusOK, &formView{})
}

func (a *app) renderTOTPSetup(w http.ResponseWriter, r *http.Request, status int, f *formView) {
	info, _ := a.Sessions.Current(r.Context())
	key, err := a.MFA.PendingTOTP(r.Context(), info.UserID, info.Name)
	switch {
	case errors.Is(err, mfa.ErrNotEnrolled):
		http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	d := a.page(r, "Set Up an Authenticator App")
	d.MFA = &mfaView{Secret: groupSecret(key.Secret())}
	d.Form = f
	a.render(w, r, status, "totp", d)
}

// groupSecret writes a base32 secret in groups of four, easier to type.
func groupSecret(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// handleTOTPQR renders the QR code of the secret being set up, on the
// server: the page runs no script and the CSP allows images from here only.
func (a *app) handleTOTPQR(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	key, err := a.MFA.PendingTOTP(r.Context(), info.UserID, info.Name)
	switch {
	case errors.Is(err, mfa.ErrNotEnrolled):
		a.handleNotFound(w, r)
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	png, err := qrcode.Encode(key.URL(), qrcode.Medium, 256)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

// codeForm is the body of forms that take one code.
type codeForm struct {
	Code string `json:"code"`
}

func (c *codeForm) fromForm(f url.Values) { c.Code = f.Get("code") }

// handleTOTPConfirm activates the secret with its first code and, for the
// account's first factor, shows new recovery codes.
func (a *app) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	var c codeForm
	if err := decodeBody(r, &c, c.fromForm); err != nil {
		a.badBody(w, r, err)
		return
	}
	counter := a.factorCounter(info.UserID)
	taken, err := a.Throttle.Take(r.Context(), counter)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if taken.Refused != nil {
		a.throttled(w, r, "totp_confirm", taken.Refused, info.UserID, "", "totp", "Set Up an Authenticator App", &formView{})
		return
	}
	code := strings.TrimSpace(c.Code)
	if len(code) > maxCodeLen {
		err = mfa.ErrInvalidCode
	} else {
		err = a.MFA.ConfirmTOTP(r.Context(), info.UserID, code)
	}
	switch {
	case errors.Is(err, mfa.ErrInvalidCode):
		f := &formView{Fields: map[string]string{"code": "That code is not right. Check the time on your device and try the next code."}}
		if wantsJSON(r) {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "wrong code", "fields": f.Fields})
			return
		}
		f.Error = "The code did not match."
		a.renderTOTPSetup(w, r, http.StatusUnprocessableEntity, f)
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	if err := a.Throttle.Succeeded(r.Context(), counter); err != nil {
		a.logger(r).Warn("reset factor throttle", "user_id", info.UserID, "err", err)
	}
	a.factorChanged(r, info, activity.TOTPAdded, "An authenticator app was added")
	a.addMethod(w, r, info, amrOTP)
	a.showNewRecoveryCodes(w, r, info, true)
}

// addMethod renews the session under a new token after a factor was
// added, recording that it proved that factor too.
func (a *app) addMethod(w http.ResponseWriter, r *http.Request, info session.Info, method string) {
	if containsString(info.Methods, method) {
		return
	}
	if _, err := a.Sessions.SignIn(w, r, session.Grant{UserID: info.UserID, Name: info.Name, Epoch: a.epochOf(r, info.UserID), Remember: info.Remember, Methods: append(info.Methods, method), AuthAt: a.Now()}); err != nil {
		a.logger(r).Warn("renew session after a new factor", "user_id", info.UserID, "err", err)
	}
}

func (a *app) epochOf(r *http.Request, userID int64) int64 {
	u, err := a.Users.ByID(r.Context(), userID)
	if err != nil {
		return -1 // SignIn then fails with ErrCredentialsChanged, logged
	}
	return u.Epoch
}

// showNewRecoveryCodes replaces the recovery codes and shows the new ones,
// once. onlyIfNone keeps existing codes (a second factor added).
func (a *app) showNewRecoveryCodes(w http.ResponseWriter, r *http.Request, info session.Info, onlyIfNone bool) {
	if onlyIfNone {
		f, err := a.MFA.Factors(r.Context(), info.UserID)
		if err != nil {
			a.unavailable(w, r, err)
			return
		}
		if f.RecoveryLeft > 0 {
			http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
			return
		}
	}
	codes, err := a.MFA.NewRecoveryCodes(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	a.audit(r, "recovery_codes", "created", info.UserID)
	a.record(r, info.UserID, activity.RecoveryCodesCreated)
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
		return
	}
	d := a.page(r, "Recovery Codes")
	factors, err := a.MFA.Factors(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	d.Factors, d.MFA = &factors, &mfaView{Codes: codes}
	a.render(w, r, http.StatusOK, "recovery", d)
}

// handleRecovery shows how many recovery codes are left.
func (a *app) handleRecovery(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	factors, err := a.MFA.Factors(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	d := a.page(r, "Recovery Codes")
	d.Factors, d.MFA = &factors, &mfaView{}
	a.render(w, r, http.StatusOK, "recovery", d)
}

// handleRecoveryRegenerate replaces the recovery codes (behind step-up).
func (a *app) handleRecoveryRegenerate(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	factors, err := a.MFA.Factors(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if !factors.Any() {
		a.fail(w, r, http.StatusConflict, "Recovery codes back up a second factor: set one up first.")
		return
	}
	a.showNewRecoveryCodes(w, r, info, false)
}

// handleTOTPRemove removes the authenticator app (behind step-up). When it
// was the last factor, the recovery codes go too: the account signs in
// with its password alone again.
func (a *app) handleTOTPRemove(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	if err := a.MFA.RemoveTOTP(r.Context(), info.UserID); err != nil {
		a.unavailable(w, r, err)
		return
	}
	a.factorChanged(r, info, activity.TOTPRemoved, "The authenticator app was removed")
	if !a.dropRecoveryIfLast(w, r, info) {
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]bool{"removed": true})
		return
	}
	http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
}

// dropRecoveryIfLast deletes the recovery codes once no factor is left.
func (a *app) dropRecoveryIfLast(w http.ResponseWriter, r *http.Request, info session.Info) bool {
	f, err := a.MFA.Factors(r.Context(), info.UserID)
	if err == nil && !f.Any() {
		err = a.MFA.RemoveRecoveryCodes(r.Context(), info.UserID)
	}
	if err != nil {
		a.unavailable(w, r, err)
		return false
	}
	return true
}

// factorChanged records a factor change: the audit line, the activity
// event and the mail notice.
func (a *app) factorChanged(r *http.Request, info session.Info, kind activity.Kind, what string) {
	a.audit(r, "factor_change", string(kind), info.UserID)
	a.record(r, info.UserID, kind)
	if err := a.Mail.FactorChanged(r.Context(), info.UserID, what, a.device(r)); err != nil {
		a.logger(r).Warn("factor change notice not queued", "user_id", info.UserID, "err", err)
	}
}
