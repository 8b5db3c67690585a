package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sessionauth/authd/internal/useragent"
)

// tokenLen is the length of an scs token: 32 random bytes, base64url.
const tokenLen = 43

// Middleware loads the session named by the request's cookie or bearer token
// and checks its clocks before the handler runs. It never fails the request:
// a missing, malformed, forged, expired or revoked token makes the request
// signed out, and an unreachable Redis is reported by Current, so that public
// pages keep working and protected ones can answer 503.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Cookie, Authorization")
		token := requestToken(r, m.CookieName())
		st := &state{}
		ctx := context.WithValue(r.Context(), stateKey{}, st)

		loaded, err := m.scs.Load(ctx, token)
		switch {
		case err == nil:
			m.check(loaded, r, st)
			if token != "" && !st.signedIn && !st.pending {
				st.ended = m.endReason(ctx, token)
			}
		case errors.Is(err, errStore):
			// Logged by whoever needed the session (a 503), not here.
			st.err = m.storeErr("load", err)
		default:
			// The record exists but cannot be decoded: treat the request as
			// signed out and drop the record, so it cannot fail later ones.
			m.log.WarnContext(ctx, "discarding undecodable session", "err", err)
			if err := m.store.DeleteCtx(ctx, hashToken(token)); err != nil {
				m.log.WarnContext(ctx, "deleting undecodable session", "err", err)
			}
			st.ended = EndExpired
		}
		if err != nil {
			// Handlers still get an empty session, so SignIn can run.
			// Loading the empty token never touches the store.
			loaded, _ = m.scs.Load(ctx, "")
		}
		// A stale cookie is left alone: clearing it here could race with a
		// sign-in in another tab and delete the cookie that sign-in just set.
		next.ServeHTTP(w, r.WithContext(loaded))
	})
}

// check decides whether a loaded session is signed in, ends it when a clock
// has run out, and refreshes its idle deadline once per interval.
func (m *Manager) check(ctx context.Context, r *http.Request, st *state) {
	token := m.scs.Token(ctx)
	if token == "" {
		return // no token, or none that Redis knows
	}
	uid, ok := m.scs.Get(ctx, keyUserID).(int64)
	info := Info{UserID: uid}
	info.Name, _ = m.scs.Get(ctx, keyName).(string)
	info.Remember, _ = m.scs.Get(ctx, keyRemember).(bool)
	info.ClientAddr, _ = m.scs.Get(ctx, keyAddr).(string)
	info.UserAgent, _ = m.scs.Get(ctx, keyAgent).(string)
	info.Pending, _ = m.scs.Get(ctx, keyPending).(bool)
	if at, ok := m.scs.Get(ctx, keyAuthAt).(int64); ok {
		info.AuthAt = time.UnixMilli(at)
	}
	if amr, _ := m.scs.Get(ctx, keyMethods).(string); amr != "" {
		info.Methods = strings.Fields(amr)
	}
	info.ClientID, _ = m.scs.Get(ctx, keyClient).(string)
	info.Kind = KindBrowser
	if k, _ := m.scs.Get(ctx, keyKind).(string); k == KindAPI {
		info.Kind = KindAPI
	}
	signedIn, _ := m.scs.Get(ctx, keySignedIn).(int64)
	info.SignedInAt = time.UnixMilli(signedIn)
	seenMs, _ := m.scs.Get(ctx, keySeen).(int64)
	idleMs, _ := m.scs.Get(ctx, keyIdle).(int64)
	idle := m.idleTimeout(idleMs)
	now := time.Now()
	seen := time.UnixMilli(seenMs)
	deadline := m.scs.Deadline(ctx)
	info.ID = tokenID(token)
	if !ok || !now.Before(deadline) || now.Sub(seen) >= idle {
		// Redis expires records on the same clocks; this guards against a
		// record that outlived them (clock skew, a changed configuration).
		if err := m.store.endExpired(ctx, uid, info.ID); err != nil {
			m.log.WarnContext(ctx, "deleting expired session", "err", err)
		}
		_ = m.scs.Destroy(withoutDelete(ctx)) // no I/O: it resets scs's copy
		return
	}
	if now.Sub(seen) >= m.cfg.RefreshInterval {
		m.scs.Put(ctx, keySeen, now.UnixMilli())
		// The write happens anyway, so where the session was last used
		// from comes free.
		info.ClientAddr, info.UserAgent = m.cfg.ClientAddr(r), useragent.Summary(r.UserAgent())
		m.scs.Put(ctx, keyAddr, info.ClientAddr)
		m.scs.Put(ctx, keyAgent, info.UserAgent)
		_, _, err := m.scs.Commit(withCommit(ctx, commitOpts{idleExpiry: now.Add(idle), userID: uid}))
		switch {
		case errors.Is(err, errGone):
			return // signed out or revoked while this request was in flight
		case err != nil:
			// The read succeeded, so the request is served; the next
			// request retries the refresh.
			m.log.WarnContext(ctx, "refreshing session", "err", err)
		default:
			seen = now
		}
	}
	info.Expires = earliest(seen.Add(idle), deadline)
	// A session waiting for its second factor is not signed in: every
	// caller of Current refuses it, and only Pending sees it.
	st.signedIn, st.pending, st.info = !info.Pending, info.Pending, info
}

// endReason tells why token, which names no live session, stopped working.
// It costs a second read only for such tokens.
func (m *Manager) endReason(ctx context.Context, token string) EndReason {
	why, err := m.store.tombstone(ctx, tokenID(token))
	if err != nil {
		m.log.WarnContext(ctx, "reading session tombstone", "err", err)
	}
	if why == EndNone {
		return EndExpired
	}
	return why
}

// requestToken returns the session token from the cookie named name, or
// else from an Authorization: Bearer header, if it is well formed. Anything
// else is ignored, so malformed input never reaches Redis. A token in the
// URL is never accepted. More than one such cookie is ambiguous (someone who
// can set cookies for this host, a sibling subdomain say, may have planted
// one for a longer path, which browsers send first), so neither is used and
// the request is signed out.
func requestToken(r *http.Request, name string) string {
	cookies := r.CookiesNamed(name)
	if len(cookies) > 1 {
		return ""
	}
	if len(cookies) == 1 {
		c := cookies[0]
		if tok := validToken(c.Value); tok != "" {
			return tok
		}
		// A malformed cookie must not hide a bearer token.
	}
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return validToken(strings.TrimSpace(tok))
	}
	return ""
}

func validToken(s string) string {
	if len(s) != tokenLen {
		return ""
	}
	// Checked by hand: the base64 decoder skips \r and \n, so it would
	// accept "a\rbc…" (found by FuzzRequestToken).
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	if raw, err := base64.RawURLEncoding.DecodeString(s); err != nil || len(raw) != 32 {
		return ""
	}
	return s
}

// hashToken is the key scs uses for token when HashTokenInStore is set.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
