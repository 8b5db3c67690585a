package server

import (
	"errors"
	"net/http"

	"github.com/sessionauth/authd/internal/device"
	"github.com/sessionauth/authd/internal/user"
)

// trustedDevice returns the request's device token for the account named,
// if it carries a valid one: the client signed in to that account before.
// Only a request with a validly signed token costs an account lookup, so a
// stranger's attempts, during a lock or not, stay as cheap as before; the
// error is a database failure.
func (a *app) trustedDevice(r *http.Request, name string) (*device.Token, error) {
	tokens := a.Devices.FromRequest(r)
	if len(tokens) == 0 {
		return nil, nil
	}
	u, err := a.Users.ByName(r.Context(), name)
	if errors.Is(err, user.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, t := range tokens {
		if t.UserID == u.ID {
			return &t, nil
		}
	}
	return nil, nil
}

// issueDevice gives the client a new device token for the user after a
// sign-in: in a cookie for browsers, and returned for the JSON answer.
func (a *app) issueDevice(w http.ResponseWriter, userID int64) string {
	tok := a.Devices.Issue(userID)
	a.Devices.SetCookie(w, tok)
	return tok
}
