package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/sessionauth/authd/internal/session"
)

// handleHome is the public home page: who is signed in, or a sign-in link.
func (a *app) handleHome(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "home", a.page(r, "Home"))
}

// handleAccount shows the signed-in user and their session's clocks.
func (a *app) handleAccount(w http.ResponseWriter, r *http.Request) {
	d := a.page(r, "Your Account")
	// The page needs only the session; without the database it still
	// shows, saying the groups are unknown for now.
	groups, err := a.Groups.Of(r.Context(), d.Session.UserID)
	if err != nil {
		a.logger(r).Warn("account page without groups", "user_id", d.Session.UserID, "err", err)
		d.GroupsUnknown = true
	}
	d.Groups = groups
	a.render(w, r, http.StatusOK, "account", d)
}

// handleMe is the JSON view of the signed-in user.
func (a *app) handleMe(w http.ResponseWriter, r *http.Request) {
	info, err := a.Sessions.Current(r.Context())
	if err != nil {
		// requireUser let the request through, so this cannot happen; answer
		// as it would rather than panic.
		a.unavailable(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(meJSON{User: userJSON(info)}.appendJSON(make([]byte, 0, 160)))
}

// meJSON is GET /api/me's answer. It is the page every protected request
// of an API client hits, so it is assembled by hand rather than through
// encoding/json's reflection (a map there cost 8.6% of the protected
// request's CPU in a profile under load); TestMeJSONMatchesEncodingJSON
// holds it byte for byte to what json.Marshal writes, plus the newline
// writeJSON adds.
type meJSON struct {
	User sessionUser `json:"user"`
}

// appendJSON appends the JSON of m and a newline to b.
func (m meJSON) appendJSON(b []byte) []byte {
	u := m.User
	b = append(b, `{"user":{"id":`...)
	b = strconv.AppendInt(b, u.ID, 10)
	b = append(b, `,"name":`...)
	name, err := json.Marshal(u.Name) // a string: escaping as encoding/json does (<, >, &, U+2028, bad UTF-8)
	if err != nil {
		name = []byte(`""`) // cannot happen: every Go string encodes
	}
	b = append(b, name...)
	b = append(b, `,"signed_in_at":`...)
	b = appendJSONTime(b, u.SignedInAt)
	b = append(b, `,"expires_at":`...)
	b = appendJSONTime(b, u.ExpiresAt)
	b = append(b, `,"amr":`...)
	amr, err := json.Marshal(u.Methods) // null when nil, as encoding/json writes it
	if err != nil {
		amr = []byte(`null`) // cannot happen: a []string always encodes
	}
	b = append(b, amr...)
	return append(b, "}}\n"...)
}

// appendJSONTime appends t as encoding/json writes a time.Time (RFC 3339
// with the fraction it has, quoted).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// sessionUser is the JSON form of the signed-in user.
type sessionUser struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	SignedInAt time.Time `json:"signed_in_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Methods say how the session signed in (RFC 8176 amr values).
	Methods []string `json:"amr"`
}

func userJSON(info session.Info) sessionUser {
	return sessionUser{
		ID:         info.UserID,
		Name:       info.Name,
		SignedInAt: info.SignedInAt.UTC().Truncate(time.Second),
		ExpiresAt:  info.Expires.UTC().Truncate(time.Second),
		Methods:    info.Methods,
	}
}
