package server

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/user"
)

// loginCounters are the limits a sign-in attempt for name counts against:
// the account (by its normalised name, so "Alice" and "ALICE" share one,
// whether or not it exists) and the client address.
func (a *app) loginCounters(r *http.Request, name string) (acct, addr throttle.Counter) {
	key := name
	if _, k, err := user.NormalizeName(name); err == nil {
		key = k
	}
	acct = throttle.Counter{Scope: "account", Key: throttle.AccountKey(key), Limit: a.Limits.AccountFailures, Window: a.Limits.Window}
	addr = throttle.Counter{Scope: "address", Key: throttle.AddressKey(a.ClientAddr(r)), Limit: a.Limits.AddrFailures, Window: a.Limits.Window}
	return acct, addr
}

// signupCounter limits sign-up attempts per client address.
func (a *app) signupCounter(r *http.Request) throttle.Counter {
	return throttle.Counter{Scope: "signup", Key: throttle.AddressKey(a.ClientAddr(r)), Limit: a.Limits.Signups, Window: a.Limits.Window}
}

// throttled answers 429 with Retry-After and logs the audit line. It does
// no database work: a flood of refused attempts must stay cheap. For a
// sign-in the user is not looked up (userID 0), so the line names the
// account by its counter key.
func (a *app) throttled(w http.ResponseWriter, r *http.Request, event string, ref *throttle.Refused, userID int64, key string) {
	secs := int(math.Ceil(ref.RetryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	attrs := []slog.Attr{slog.String("scope", ref.Scope), slog.Int("retry_after_s", secs)}
	if key != "" {
		attrs = append(attrs, slog.String("account_key", key))
	}
	a.audit(r, event, "throttled", userID, attrs...)
	a.Metrics.Throttled(ref.Scope)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	msg := "Too many attempts. Please try again in " + humanDuration(time.Duration(secs)*time.Second) + "."
	if wantsJSON(r) {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": msg, "retry_after": secs})
		return
	}
	a.fail(w, r, http.StatusTooManyRequests, msg)
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
