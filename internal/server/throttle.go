package server

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sessionauth/authd/internal/device"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/user"
)

// warnWhenLeft: a failed attempt with this many attempts left or fewer
// says so, before the lock rather than only after it.
const warnWhenLeft = 3

// accountKey is the throttle key of a sign-in name: by its normalised form,
// so "Alice" and "ALICE" share one, whether or not the account exists.
func accountKey(name string) string {
	key := name
	if _, k, err := user.NormalizeName(name); err == nil {
		key = k
	}
	return throttle.AccountKey(key)
}

// loginCounters are the limits a sign-in attempt for name counts against.
// A device holding a valid token for the account counts against that
// token's own budget only (B4): the lock that strangers' failures put on
// the account and on their addresses does not apply to it. Everyone else
// counts per account and per client address, and so does everyone when
// DeviceFailures is zero (no budgets of their own).
func (a *app) loginCounters(r *http.Request, name string, dev *device.Token) []throttle.Counter {
	if dev != nil && a.Limits.DeviceFailures > 0 {
		return []throttle.Counter{{Scope: "device", Key: dev.Key(), Limit: a.Limits.DeviceFailures, Window: a.Limits.Window}}
	}
	return []throttle.Counter{
		{Scope: "account", Key: accountKey(name), Limit: a.Limits.AccountFailures, Window: a.Limits.Window},
		{Scope: "address", Key: throttle.AddressKey(a.ClientAddr(r)), Limit: a.Limits.AddrFailures, Window: a.Limits.Window},
	}
}

// passwordCounters limit wrong current passwords on the password-change
// form per signed-in session (by its public id): its own budget, so the
// account's lock never stops the owner's session from changing the
// password, and a hijacked session gets only so many guesses. With
// DeviceFailures zero they count like sign-ins, per account and address.
func (a *app) passwordCounters(r *http.Request, info session.Info) []throttle.Counter {
	if a.Limits.DeviceFailures <= 0 {
		return a.loginCounters(r, info.Name, nil)
	}
	return []throttle.Counter{{Scope: "session", Key: info.ID, Limit: a.Limits.DeviceFailures, Window: a.Limits.Window}}
}

// signupCounter limits sign-up attempts per client address.
func (a *app) signupCounter(r *http.Request) throttle.Counter {
	return throttle.Counter{Scope: "signup", Key: throttle.AddressKey(a.ClientAddr(r)), Limit: a.Limits.Signups, Window: a.Limits.Window}
}

// throttled answers 429 with Retry-After and logs the audit line. It does
// no database work: a flood of refused attempts must stay cheap. For a
// sign-in the user is not looked up (userID 0 unless a device named it), so
// the line names the account by its counter key; extra adds to that line.
// A browser gets the form back (page, with f: the name kept, never the
// password) with the message.
func (a *app) throttled(w http.ResponseWriter, r *http.Request, event string, ref *throttle.Refused, userID int64, key string, page, title string, f *formView, extra ...slog.Attr) {
	secs := a.refusedAttempt(w, r, event, ref, userID, key, extra...)
	wait := humanDuration(time.Duration(secs) * time.Second)
	msg := "Too many attempts"
	switch ref.Scope {
	case "device":
		msg += " from this device"
	case "session":
		msg += " with a wrong current password from this session"
	}
	msg += ". Please try again in " + wait
	if wantsJSON(r) {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": msg + ".", "retry_after": secs})
		return
	}
	f.Error = msg + " (" + retryAt(time.Now().Add(time.Duration(secs)*time.Second)) + ")."
	d := a.page(r, title)
	d.Form = f
	a.render(w, r, http.StatusTooManyRequests, page, d)
}

// retryAt says when a wait ends, to the minute, for someone who comes back
// to the page later.
func retryAt(t time.Time) string {
	return "after " + t.UTC().Add(time.Minute-time.Nanosecond).Truncate(time.Minute).Format("15:04") + " UTC"
}

// attemptsLeft is the warning a failed attempt carries when few are left,
// or "". It depends only on the counters, never on whether the account
// exists.
func (a *app) attemptsLeft(left int) string {
	switch {
	case left < 0 || left > warnWhenLeft:
		return ""
	case left == 0:
		return "That was the last attempt: further ones are refused for up to " + humanDuration(a.Limits.Window) + "."
	case left == 1:
		return "1 attempt left before further ones are refused for up to " + humanDuration(a.Limits.Window) + "."
	}
	return strconv.Itoa(left) + " attempts left before further ones are refused for up to " + humanDuration(a.Limits.Window) + "."
}

// humanDuration says a wait in words: "40 seconds", "3 minutes".
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		return strconv.Itoa(int(d.Seconds())) + " seconds"
	}
	m := int(math.Ceil(d.Minutes()))
	if m == 1 {
		return "1 minute"
	}
	return strconv.Itoa(m) + " minutes"
}

// refusedAttempt logs and counts an attempt the throttle refused and sets
// Retry-After; it returns the wait in seconds for the answer.
func (a *app) refusedAttempt(w http.ResponseWriter, r *http.Request, event string, ref *throttle.Refused, userID int64, key string, extra ...slog.Attr) int {
	secs := int(math.Ceil(ref.RetryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	attrs := []slog.Attr{slog.String("scope", ref.Scope), slog.Int("retry_after_s", secs)}
	if key != "" {
		attrs = append(attrs, slog.String("account_key", key))
	}
	attrs = append(attrs, extra...)
	a.audit(r, event, "throttled", userID, attrs...)
	a.Metrics.Throttled(ref.Scope)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return secs
}
