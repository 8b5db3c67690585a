package session

// CookieName is the name of this Manager's session cookie: Config.CookieName,
// or the package's CookieName by default. The server uses it to spot a
// request that carries more than one (see requestToken).
func (m *Manager) CookieName() string {
	if m.cfg.CookieName != "" {
		return m.cfg.CookieName
	}
	return CookieName
}
