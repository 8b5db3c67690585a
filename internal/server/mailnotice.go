package server

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/sessionauth/authd/internal/notice"
	"github.com/sessionauth/authd/internal/user"
	"github.com/sessionauth/authd/internal/useragent"
)

// device describes where this request comes from, for a notice.
func (a *app) device(r *http.Request) notice.Device {
	return notice.Device{At: time.Now(), Client: a.ClientAddr(r), Agent: useragent.Summary(r.UserAgent())}
}

// newDevice reports whether a sign-in by u on this request comes from a
// device the account has not signed in from recently: no sign-in in its
// activity (kept for ACTIVITY_RETENTION, at most 200 events) with the same
// browser and system and the same address family. Versions are ignored, so
// that a browser update is not a new device. It must run before the
// sign-in is recorded. Accounts without a confirmed address, and servers
// with the notice off, skip the query.
func (a *app) newDevice(r *http.Request, u user.User) bool {
	if u.Email == "" || !a.Mail.NotifiesNewDevice() {
		return false
	}
	events, err := a.Activity.List(r.Context(), u.ID, 200)
	if err != nil {
		// Best effort: a notice is no reason to fail a sign-in.
		a.logger(r).Warn("new-device check", "user_id", u.ID, "err", err)
		return false
	}
	agent, family := useragent.Summary(r.UserAgent()), addrFamily(a.ClientAddr(r))
	for _, e := range events {
		if e.Kind.IsSignIn() && useragent.Summary(e.UserAgent) == agent && addrFamily(e.ClientAddr) == family {
			return false
		}
	}
	return true
}

// notifyNewDevice queues the new-device notice; best effort.
func (a *app) notifyNewDevice(r *http.Request, u user.User) {
	if err := a.Mail.NewDevice(r.Context(), u.ID, a.device(r)); err != nil {
		a.logger(r).Warn("new-device notice not queued", "user_id", u.ID, "err", err)
	}
}

func addrFamily(addr string) string {
	ip, err := netip.ParseAddr(addr)
	switch {
	case err != nil:
		return "other"
	case ip.Unmap().Is4():
		return "IPv4"
	}
	return "IPv6"
}
