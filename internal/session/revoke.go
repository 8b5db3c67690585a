package session

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Entry is one of a user's live sessions as Manager.List shows it.
type Entry struct {
	// ID is the public id: neither the token nor its hash.
	ID         string
	SignedInAt time.Time
	LastSeen   time.Time
	// Expires is when the session ends if unused from now on.
	Expires    time.Time
	ClientAddr string
	UserAgent  string
	Remember   bool
	// Kind is KindBrowser or KindAPI; ClientID is an API session's client_id.
	Kind     string
	ClientID string
	// Current marks the session of the request that asked for the list.
	Current bool
	// Methods say how it signed in (Info.Methods).
	Methods []string
}

// List returns the user's live sessions, newest first. It reads the user's
// index and their records: O(that user's sessions).
func (m *Manager) List(ctx context.Context, userID int64) ([]Entry, error) {
	entries, err := m.store.list(ctx, userID)
	if err != nil {
		return nil, m.storeErr("list", err)
	}
	current := m.currentID(ctx)
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		deadline, values, err := m.scs.Codec.Decode(e.record)
		if err != nil {
			m.log.WarnContext(ctx, "skipping undecodable session in list", "user_id", userID, "err", err)
			continue
		}
		seenMs, _ := values[keySeen].(int64)
		idleMs, _ := values[keyIdle].(int64)
		seen := time.UnixMilli(seenMs)
		en := Entry{
			ID:         e.id,
			SignedInAt: e.created,
			LastSeen:   seen,
			Expires:    earliest(seen.Add(m.idleTimeout(idleMs)), deadline),
			Current:    e.id == current,
		}
		en.ClientAddr, _ = values[keyAddr].(string)
		en.UserAgent, _ = values[keyAgent].(string)
		en.Remember, _ = values[keyRemember].(bool)
		if pending, _ := values[keyPending].(bool); pending {
			continue // not signed in: waiting for its second factor
		}
		if amr, _ := values[keyMethods].(string); amr != "" {
			en.Methods = strings.Fields(amr)
		}
		en.Kind, en.ClientID = kindOf(values), stringValue(values, keyClient)
		out = append(out, en)
	}
	slices.SortFunc(out, func(a, b Entry) int { return b.SignedInAt.Compare(a.SignedInAt) })
	return out, nil
}

// EndReason says why a session that a request presented no longer works.
type EndReason string

// The reasons a session ended, as Manager.EndReason reports them.
const (
	// EndNone: the request presented no session token, or a live one.
	EndNone EndReason = ""
	// EndExpired: the token names no session, or one whose clock ran out
	// (this is also what a made-up token gets, so it tells a stranger nothing).
	EndExpired EndReason = "expired"
	// EndRevoked: the user (or an operator) ended it from elsewhere.
	EndRevoked EndReason = "revoked"
	// EndPasswordChanged: a password change ended every other session.
	EndPasswordChanged EndReason = "password_changed"
)

// Revoke ends the user's session with the given id; it is signed out on
// its very next request, on every instance. It fails with ErrNoSession when
// the user has no such session, whoever else might. current reports
// whether it was the session of ctx's own request.
func (m *Manager) Revoke(ctx context.Context, userID int64, id string) (current bool, err error) {
	if !validID(id) {
		return false, ErrNoSession
	}
	n, ack, err := m.store.revoke(ctx, userID, id, "", 0, 0, EndRevoked)
	if err != nil {
		return false, m.storeErr("revoke", err)
	}
	m.ackMissed(ctx, "revoke", userID, ack)
	if n == 0 {
		return false, ErrNoSession
	}
	return id == m.currentID(ctx), nil
}

// RevokeOthers ends every session of the user except ctx's own and returns
// how many it ended.
func (m *Manager) RevokeOthers(ctx context.Context, userID int64) (int, error) {
	n, ack, err := m.store.revoke(ctx, userID, "", m.currentID(ctx), 0, 0, EndRevoked)
	if err != nil {
		return 0, m.storeErr("revoke others", err)
	}
	m.ackMissed(ctx, "revoke_others", userID, ack)
	return n, nil
}

// RevokeAll ends every session of the user and returns how many it ended;
// why is what their devices are told (EndRevoked, EndPasswordChanged). A
// positive epoch (the user's credential epoch after a password change) is
// recorded first, so that a sign-in that checked the old password and has
// not yet created its session fails instead of outliving the change.
func (m *Manager) RevokeAll(ctx context.Context, userID, epoch int64, why EndReason) (int, error) {
	n, ack, err := m.store.revoke(ctx, userID, "", "", epoch, m.maxLifetime(), why)
	if err != nil {
		return 0, m.storeErr("revoke all", err)
	}
	m.ackMissed(ctx, "revoke_all", userID, ack)
	return n, nil
}

// CanRemember reports whether "keep me signed in" is offered.
func (m *Manager) CanRemember() bool { return m.cfg.RememberLifetime > 0 }

// ClearCookie tells the browser to drop the session cookie and whatever the
// site stored, for a request whose session has just been ended. Not
// "cookies": that would also drop the device cookie, which must outlive
// sign-out so that the device stays known (package device).
func (m *Manager) ClearCookie(w http.ResponseWriter) {
	m.writeCookie(w, "", time.Time{}, false)
	w.Header().Set("Clear-Site-Data", `"storage"`)
}

// token returns the token of ctx's session, if ctx went through Middleware.
func (m *Manager) token(ctx context.Context) string {
	if _, ok := ctx.Value(stateKey{}).(*state); !ok {
		return "" // not a request: the CLI
	}
	return m.scs.Token(ctx)
}

// currentID is the id of ctx's session, or "".
func (m *Manager) currentID(ctx context.Context) string {
	if st := stateFrom(ctx); st.viaAccessToken && st.signedIn {
		return st.info.ID
	}
	if tok := m.token(ctx); tok != "" {
		return tokenID(tok)
	}
	return ""
}
