package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/session"
)

// sessionJSON is the JSON form of one of the user's sessions.
type sessionJSON struct {
	ID         string    `json:"id"`
	SignedInAt time.Time `json:"signed_in_at"`
	LastSeen   time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	ClientAddr string    `json:"client_addr"`
	UserAgent  string    `json:"user_agent"`
	Remember   bool      `json:"remember"`
	Current    bool      `json:"current"`
	// Methods say how it signed in: "pwd", "otp", "hwk", "rec" (RFC 8176).
	Methods []string `json:"methods"`
	// Kind is "browser" or "api" (a token session); Device is how lists
	// show it ("Firefox on Linux", "API client · my-cli").
	Kind     string `json:"kind"`
	ClientID string `json:"client_id,omitempty"`
	Device   string `json:"device"`
}

// handleSessions lists the signed-in user's sessions, this one marked.
func (a *app) handleSessions(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context()) // requireUser checked it
	list, err := a.Sessions.List(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if wantsJSON(r) {
		out := make([]sessionJSON, 0, len(list))
		for _, e := range list {
			out = append(out, sessionJSON{
				ID: e.ID, SignedInAt: e.SignedInAt.UTC(), LastSeen: e.LastSeen.UTC(), ExpiresAt: e.Expires.UTC(),
				ClientAddr: e.ClientAddr, UserAgent: e.UserAgent, Remember: e.Remember, Current: e.Current, Methods: e.Methods,
				Kind: e.Kind, ClientID: e.ClientID, Device: e.Device(),
			})
		}
		writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
		return
	}
	d := a.page(r, "Your Sessions")
	d.Sessions = list
	a.render(w, r, http.StatusOK, "sessions", d)
}

// handleRevoke ends one of the user's sessions. Another user's id, or one
// that ended already, is 404: the answer never confirms that an id exists.
func (a *app) handleRevoke(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	id := chi.URLParam(r, "id")
	device := ""
	if !wantsJSON(r) {
		device = a.sessionDevice(r, info.UserID, id) // for the notice
	}
	current, err := a.Sessions.Revoke(r.Context(), info.UserID, id)
	switch {
	case errors.Is(err, session.ErrNoSession):
		a.fail(w, r, http.StatusNotFound, "No such session: it may have ended already.")
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	a.audit(r, "session_revoke", "success", info.UserID, slog.Int("sessions", 1), slog.Bool("current", current))
	a.record(r, info.UserID, activity.Revoked)
	if current {
		a.Sessions.ClearCookie(w)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"revoked": 1, "current": current})
		return
	}
	if current {
		http.Redirect(w, r, "/login?"+signedOutQuery, http.StatusSeeOther)
		return
	}
	a.setNotice(w, r, noticeSessionEnded, device)
	http.Redirect(w, r, "/account/sessions", http.StatusSeeOther)
}

// sessionDevice returns the device summary of the user's session id ("Safari
// on iOS"), or "" when it cannot be told. Only a notice depends on it.
func (a *app) sessionDevice(r *http.Request, userID int64, id string) string {
	list, err := a.Sessions.List(r.Context(), userID)
	if err != nil {
		return ""
	}
	for _, e := range list {
		if e.ID == id {
			return e.UserAgent
		}
	}
	return ""
}

// handleRevokeOthers signs the user out everywhere but here.
func (a *app) handleRevokeOthers(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	n, err := a.Sessions.RevokeOthers(r.Context(), info.UserID)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	a.audit(r, "session_revoke", "success", info.UserID, slog.Int("sessions", n), slog.String("scope", "others"))
	if n > 0 {
		a.record(r, info.UserID, activity.Revoked)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
		return
	}
	a.setNotice(w, r, noticeOthersEnded, strconv.Itoa(n))
	http.Redirect(w, r, "/account/sessions", http.StatusSeeOther)
}

// activityJSON is the JSON form of one activity event. Count and FirstAt
// describe a collapsed run of failures: how many, and since when (at is the
// latest).
type activityJSON struct {
	At         time.Time     `json:"at"`
	Kind       activity.Kind `json:"kind"`
	ClientAddr string        `json:"client_addr"`
	UserAgent  string        `json:"user_agent"`
	Count      int64         `json:"count"`
	FirstAt    *time.Time    `json:"first_at,omitempty"`
}

// activityShown is how many recent events the activity page shows.
const activityShown = 50

// activityFlushWait bounds how long the activity page waits for queued
// events (behind a flood, say) before it shows what is written.
const activityFlushWait = 2 * time.Second

// handleActivity shows the user's recent security events.
func (a *app) handleActivity(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	// Events are written in the background: wait (briefly) for those
	// already queued, so that the page shows what just happened.
	ctx, cancel := context.WithTimeout(r.Context(), activityFlushWait)
	if err := a.events.Flush(ctx); err != nil {
		a.logger(r).Warn("activity page: queued events not yet written", "err", err)
	}
	cancel()
	events, err := a.Activity.List(r.Context(), info.UserID, activityShown)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if wantsJSON(r) {
		out := make([]activityJSON, 0, len(events))
		for _, e := range events {
			j := activityJSON{At: e.At.UTC(), Kind: e.Kind, ClientAddr: e.ClientAddr, UserAgent: e.UserAgent, Count: max(e.Count, 1)}
			if !e.First.IsZero() {
				first := e.First.UTC()
				j.FirstAt = &first
			}
			out = append(out, j)
		}
		writeJSON(w, http.StatusOK, map[string]any{"activity": out})
		return
	}
	d := a.page(r, "Account Activity")
	d.Activity = events
	a.render(w, r, http.StatusOK, "activity", d)
}
