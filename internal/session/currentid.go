package session

import "context"

// CurrentID returns the public id of the request's session, the one session
// lists show (Entry.ID), or "" when the request is not signed in. The server
// keys per-session limits by it.
func (m *Manager) CurrentID(ctx context.Context) string {
	if _, err := m.Current(ctx); err != nil {
		return ""
	}
	if tok := m.token(ctx); tok != "" {
		return publicID(hashToken(tok))
	}
	return ""
}
