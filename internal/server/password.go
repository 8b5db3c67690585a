package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/session"
)

// handlePasswordForm shows the password change form.
func (a *app) handlePasswordForm(w http.ResponseWriter, r *http.Request) {
	d := a.page(r, "Change Password")
	d.Form = &formView{}
	a.render(w, r, http.StatusOK, "password", d)
}

// handlePasswordSubmit changes the password after checking the current one,
// ends every session of the user (on every instance, including sign-ins
// still in flight with the old password), and signs this device in again
// under a new token.
func (a *app) handlePasswordSubmit(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	var p passwordChange
	if err := decodeBody(r, &p, p.fromForm); err != nil {
		a.badBody(w, r, err)
		return
	}
	f := &formView{Fields: map[string]string{}}
	if p.Current == "" {
		f.Fields["current_password"] = "Enter your current password."
	}
	if err := password.Validate(p.New); err != nil {
		f.Fields["new_password"] = capitalize(err.Error()) + "."
	} else if err := a.Passwords.Check(r.Context(), p.New, info.Name); err != nil {
		f.Fields["new_password"] = capitalize(err.Error()) + "."
	} else if p.Confirm != "" && p.Confirm != p.New {
		f.Fields["confirm_password"] = "The two new passwords differ."
	}
	if len(f.Fields) > 0 {
		a.formError(w, r, "password", "Change Password", http.StatusUnprocessableEntity, f, "Please correct the fields below.")
		return
	}

	// Wrong current passwords count against this session's own budget: a
	// hijacked session gets only so many guesses, and the lock strangers
	// put on the account never stops the owner's session (B4).
	budget := a.passwordCounters(r, info)
	taken, err := a.Throttle.Take(r.Context(), budget...)
	if err != nil {
		a.unavailable(w, r, err)
		return
	} else if taken.Refused != nil {
		a.throttled(w, r, "password_change", taken.Refused, info.UserID, "", "password", "Change Password", &formView{})
		return
	}
	u, err := a.Users.ByID(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), maxHashWait)
	defer cancel()
	if _, err := a.Hasher.Verify(ctx, u.PasswordHash, p.Current); errors.Is(err, password.ErrMismatch) {
		a.audit(r, "password_change", "failure", u.ID)
		a.record(r, u.ID, activity.PasswordChangeFailed)
		f.Fields["current_password"] = "That is not your current password."
		msg := "Your password was not changed."
		if warning := a.attemptsLeft(taken.Left); warning != "" {
			msg += " " + warning
		}
		a.formError(w, r, "password", "Change Password", http.StatusUnauthorized, f, msg)
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

	hash, err := a.Hasher.Hash(ctx, p.New)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	epoch, err := a.Users.ChangePassword(r.Context(), u.ID, hash)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	// From here the new password is in force. Ending the old sessions is
	// what the user asked for; if Redis fails now, say so rather than
	// claim success.
	n, err := a.revokeAll(r, u.ID, epoch)
	if err != nil {
		a.logger(r).Error("password changed but sessions not ended; run: authd session revoke NAME --all", "user_id", u.ID, "err", err)
		a.unavailable(w, r, err)
		return
	}
	a.audit(r, "password_change", "success", u.ID)
	a.audit(r, "session_revoke", "success", u.ID, slog.Int("sessions", n), slog.String("reason", "password change"))
	// One event, "password changed": the session renewed under a new
	// token below is this device's, not a new sign-in.
	a.record(r, u.ID, activity.PasswordChanged)
	if err := a.Mail.PasswordChanged(r.Context(), u.ID, a.device(r)); err != nil {
		a.logger(r).Warn("password change notice not queued", "user_id", u.ID, "err", err)
	}
	u.PasswordHash, u.Epoch = hash, epoch
	// The renewed session keeps how this one signed in; the current
	// password was just checked, so it counts as a fresh authentication.
	devToken, ok := a.startSessionWith(w, r, session.Grant{UserID: u.ID, Name: u.Name, Epoch: u.Epoch, Remember: info.Remember, Methods: info.Methods})
	if !ok {
		return
	}
	if wantsJSON(r) {
		// n counts this request's own session too, which goes on under a
		// new token: the answer reports the others (the route requires a
		// session, so it was among them unless it ended meanwhile).
		writeJSON(w, http.StatusOK, map[string]any{"password_changed": true, "sessions_ended": max(n-1, 0), "device_token": devToken})
		return
	}
	a.setNotice(w, r, noticePasswordChanged, "")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// revokeAll ends every session of the user after a password change, trying
// a few times: the password has already changed, and a passing Redis hiccup
// must not leave the old sessions alive.
func (a *app) revokeAll(r *http.Request, userID, epoch int64) (int, error) {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-time.After(100 * time.Millisecond):
			case <-r.Context().Done():
				return 0, r.Context().Err()
			}
		}
		var n int
		if n, err = a.Sessions.RevokeAll(r.Context(), userID, epoch, session.EndPasswordChanged); err == nil {
			return n, nil
		}
	}
	return 0, err
}
