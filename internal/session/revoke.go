package session

import (
	"context"
	"net/http"
	"slices"
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
	// Current marks the session of the request that asked for the list.
	Current bool
}

// List returns the user's live sessions, newest first. It reads the user's
// index and their records: O(that user's sessions).
func (m *Manager) List(ctx context.Context, userID int64) ([]Entry, error) {
	entries, err := m.store.list(ctx, userID)
	if err != nil {
		return nil, m.storeErr("list", err)
	}
	current := ""
	if tok := m.token(ctx); tok != "" {
		current = hashToken(tok)
	}
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
			ID:         publicID(e.member),
			SignedInAt: e.created,
			LastSeen:   seen,
			Expires:    earliest(seen.Add(m.idleTimeout(idleMs)), deadline),
			Current:    e.member == current,
		}
		en.ClientAddr, _ = values[keyAddr].(string)
		en.UserAgent, _ = values[keyAgent].(string)
		en.Remember, _ = values[keyRemember].(bool)
		out = append(out, en)
	}
	slices.SortFunc(out, func(a, b Entry) int { return b.SignedInAt.Compare(a.SignedInAt) })
	return out, nil
}

// Revoke ends the user's session with the given public id; it is signed out
// on its very next request, on every instance. It fails with ErrNoSession
// when the user has no such session, whoever else might. current reports
// whether it was the session of ctx's own request.
func (m *Manager) Revoke(ctx context.Context, userID int64, id string) (current bool, err error) {
	entries, err := m.store.list(ctx, userID)
	if err != nil {
		return false, m.storeErr("list", err)
	}
	for _, e := range entries {
		if publicID(e.member) != id {
			continue
		}
		n, err := m.store.revoke(ctx, userID, e.member, "", 0, 0)
		if err != nil {
			return false, m.storeErr("revoke", err)
		}
		if n == 0 {
			return false, ErrNoSession // ended meanwhile
		}
		tok := m.token(ctx)
		return tok != "" && hashToken(tok) == e.member, nil
	}
	return false, ErrNoSession
}

// RevokeOthers ends every session of the user except ctx's own and returns
// how many it ended.
func (m *Manager) RevokeOthers(ctx context.Context, userID int64) (int, error) {
	keep := ""
	if tok := m.token(ctx); tok != "" {
		keep = hashToken(tok)
	}
	n, err := m.store.revoke(ctx, userID, "", keep, 0, 0)
	if err != nil {
		return 0, m.storeErr("revoke others", err)
	}
	return n, nil
}

// RevokeAll ends every session of the user and returns how many it ended.
// A positive epoch (the user's new credential epoch after a password change)
// is recorded first, so that a sign-in that checked the old password and
// has not yet created its session fails instead of outliving the change.
func (m *Manager) RevokeAll(ctx context.Context, userID, epoch int64) (int, error) {
	n, err := m.store.revoke(ctx, userID, "", "", epoch, m.maxLifetime())
	if err != nil {
		return 0, m.storeErr("revoke all", err)
	}
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
