package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/redispool"
)

// Token sessions are the sessions of OAuth clients (a mobile app, a CLI,
// another service). They live in the same store, under the same key layout
// and in the same per-user index as browser sessions, so that they are
// listed with them and ended by the same revoke, sign-out-everywhere and
// password change (the credential epoch). What differs:
//
//   - no session token is ever handed out: the session's id is drawn
//     directly (with the user's hash tag), and a client holds a refresh
//     token of its family and short-lived access JWTs naming the id (sid);
//   - their clocks are their own (TokenIdleTimeout, TokenLifetime), and the
//     idle clock is the record's Redis expiry, pushed forward by each refresh;
//   - each has one refresh-token family, a hash in the user's slot:
//
//	P{tt}r:iii…  family of session tt iii…: c = hash of the current refresh
//	             token, p = hash of the previous one, t = when it was
//	             rotated (ms), o = hashes of the 16 before it, u = user id,
//	             k = client id, d = absolute deadline (ms); it expires with
//	             the session record
//	P{tt}w:iii…  grace key: the current refresh token sealed under a key
//	             derived from the previous one, for RefreshGrace
//
// A refresh token is "<session id>.<43 characters>": the id is public, the
// rest is 256 random bits of which Redis only holds the SHA-256 (T1). The
// grace key holds the current token XORed with SHA-256 of the previous
// token, which only a holder of the previous token can undo, so a dump of
// Redis yields no usable token.

// Session kinds.
const (
	KindBrowser = "browser"
	KindAPI     = "api"
)

// Errors of the refresh-token operations.
var (
	// ErrInvalidGrant: the refresh token is malformed, unknown, expired or
	// its session has ended.
	ErrInvalidGrant = errors.New("session: invalid refresh token")
	// ErrTokenReused: an already rotated refresh token was presented
	// outside the grace window; its whole family (the session) was ended.
	ErrTokenReused = errors.New("session: rotated refresh token reused; the session was ended")
)

// EndReused: a rotated refresh token was presented again (a tombstone reason).
const EndReused EndReason = "refresh_token_reused"

// maxOldHashes is how many rotated tokens before the previous one are
// remembered, so that presenting one ends the family. Older ones are just
// refused: the refresh path stays O(1) however long the family.
const maxOldHashes = 16

// hashLen is the length of a stored refresh-token hash (base64url SHA-256).
const hashLen = 43

// TokenSession is a token session as a refresh answers it.
type TokenSession struct {
	ID       string // the session id, the sid of its access tokens
	UserID   int64
	ClientID string
	// Refresh is the family's current refresh token.
	Refresh string
	// Expires is the session's absolute deadline.
	Expires time.Time
}

// TokenGrant is what StartToken needs.
type TokenGrant struct {
	Grant
	ClientID   string
	ClientAddr string
	UserAgent  string // already summarised
}

func familyKey(prefix, id string) string { return prefix + "{" + id[:2] + "}r:" + id[2:] }
func graceKey(prefix, id string) string  { return prefix + "{" + id[:2] + "}w:" + id[2:] }

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newSecret returns 256 random bits, base64url, in the form of a session token.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// seal XORs secret's 32 bytes with SHA-256 of key; applied twice it is the identity.
func seal(secret, key string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(raw) != 32 {
		return "", errors.New("session: seal: not a secret")
	}
	pad := sha256.Sum256([]byte("authd refresh grace:" + key))
	subtle.XORBytes(raw, raw, pad[:])
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// parseRefresh splits a refresh token into session id and secret, or fails
// for anything not of that form, so that no other input reaches Redis.
func parseRefresh(tok string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(tok, ".")
	if !ok || !validID(id) || validToken(secret) == "" {
		return "", "", false
	}
	return id, secret, true
}

// newTagID draws a session id with the given hash tag (keys.go) without a
// token: nobody can present a token that hashes to it.
func newTagID(tag string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return tag + base64.RawURLEncoding.EncodeToString(b)
}

// StartToken starts a token session for g and returns it with the first
// refresh token of its family. It fails with ErrCredentialsChanged when
// the user's password changed after g.Epoch was read.
func (m *Manager) StartToken(ctx context.Context, g TokenGrant) (TokenSession, error) {
	now := time.Now()
	deadline := now.Add(m.cfg.TokenLifetime)
	idle := m.cfg.TokenIdleTimeout
	values := map[string]any{
		keyUserID: g.UserID, keyName: g.Name, keySignedIn: now.UnixMilli(), keySeen: now.UnixMilli(),
		keyEpoch: g.Epoch, keyIdle: idle.Milliseconds(), keyRemember: false,
		keyAddr: g.ClientAddr, keyAgent: g.UserAgent, keyKind: KindAPI, keyClient: g.ClientID,
		keyAuthAt: now.UnixMilli(),
	}
	if len(g.Methods) > 0 {
		values[keyMethods] = strings.Join(g.Methods, " ")
	}
	b, err := Codec{}.Encode(deadline, values)
	if err != nil {
		return TokenSession{}, fmt.Errorf("session: start token session: %w", err)
	}
	id := newTagID(userTag(g.UserID))
	create := &createOpts{userID: g.UserID, epoch: g.Epoch, created: now, maxSessions: m.cfg.MaxSessions}
	expiry := earliest(now.Add(idle), deadline)
	if err := m.store.create(ctx, id, b, expiry, create); err != nil {
		if errors.Is(err, ErrCredentialsChanged) {
			return TokenSession{}, err
		}
		return TokenSession{}, m.storeErr("start token session", err)
	}
	secret := newSecret()
	fk := familyKey(m.cfg.KeyPrefix, id)
	_, err = m.store.script(ctx, startFamilyScript, fk,
		hashSecret(secret), m.cfg.Now().UnixMilli(), g.UserID, g.ClientID, deadline.UnixMilli(), expiry.UnixMilli())
	if err != nil {
		// The record alone is harmless: it expires, and nobody holds a token for it.
		return TokenSession{}, m.storeErr("start refresh family", err)
	}
	return TokenSession{ID: id, UserID: g.UserID, ClientID: g.ClientID, Refresh: id + "." + secret, Expires: deadline}, nil
}

// luaIndex defines index(id, uid): the index key of the user of session id.
const luaIndex = `
local function index(id, uid) return P .. '{' .. string.sub(id, 1, 2) .. '}u:' .. uid end
`

// startFamilyScript writes a new family. KEYS: family. ARGV: hash, now ms,
// user id, client id, deadline ms, expiry ms.
var startFamilyScript = redis.NewScript(1, `
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'p', '', 't', ARGV[2], 'o', '', 'u', ARGV[3], 'k', ARGV[4], 'd', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return 1
`)

// rotateScript is the whole refresh, in one round trip and O(1):
//
//   - the current token: rotate (the new hash becomes current, the old one
//     previous), push every clock of the session forward to the idle
//     deadline (capped by the absolute one), keep the new token sealed
//     under the old one for the grace window; answer {1, uid, client};
//   - the previous token within the grace window: answer the sealed
//     current token {2, uid, client, sealed}, no new branch;
//   - the previous token later, or one of the older ones: end the session
//     (record, index entry, family, with a tombstone); answer {3, uid};
//   - anything else, or a family whose session is gone: {0}.
//
// The user's index is named from the family's user id, in the same slot
// (like the records the other scripts reach through the index).
//
// KEYS: family, grace, record, guard (keys.go). ARGV: prefix, id, presented hash, new hash,
// now ms (grace clock), grace ms, idle ms, sealed new token, real now ms
// (Redis expiries), old hashes kept.
var rotateScript = redis.NewScript(4, luaKeys+luaSettle+luaIndex+`
local f = redis.call('HMGET', KEYS[1], 'c', 'p', 't', 'o', 'u', 'k', 'd')
if not f[1] then return {0} end
local ix = index(ARGV[2], f[5])
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {0}
end
local h = ARGV[3]
if h == f[1] then
  local old = f[2] .. f[4]
  local keep = tonumber(ARGV[10]) * #h
  if #old > keep then old = string.sub(old, 1, keep) end
  local exp = math.min(tonumber(ARGV[9]) + tonumber(ARGV[7]), tonumber(f[7]))
  redis.call('HSET', KEYS[1], 'c', ARGV[4], 'p', h, 't', ARGV[5], 'o', old)
  redis.call('PEXPIREAT', KEYS[1], exp)
  redis.call('PEXPIREAT', KEYS[3], exp)
  redis.call('PEXPIREAT', ix, exp, 'GT')
  redis.call('SET', KEYS[2], ARGV[8], 'PX', ARGV[6])
  return {1, f[5], f[6]}
end
if h == f[2] and tonumber(ARGV[5]) - tonumber(f[3]) <= tonumber(ARGV[6]) then
  local s = redis.call('GET', KEYS[2])
  if s then return {2, f[5], f[6], s} end
end
local reused = (h == f[2])
if not reused then
  for i = 1, #f[4], #h do
    if string.sub(f[4], i, i + #h - 1) == h then reused = true break end
  end
end
if reused then
  local ttl = redis.call('PTTL', KEYS[3])
  redis.call('DEL', KEYS[3], KEYS[1], KEYS[2])
  if redis.call('ZREM', ix, ARGV[2]) == 1 then settle(ix) end
  if ttl > 0 then redis.call('SET', tomb(ARGV[2]), 'refresh_token_reused', 'PX', ttl) end
  return {3, f[5]}
end
return {0}
`)

// Refresh rotates the refresh token tok and returns the family's current
// state: a new refresh token, or, for the previous token within the grace
// window, the one the first refresh issued. It fails with ErrInvalidGrant,
// with ErrTokenReused (the session was just ended), or with an error
// wrapping ErrUnavailable.
func (m *Manager) Refresh(ctx context.Context, tok string) (TokenSession, error) {
	id, secret, ok := parseRefresh(tok)
	if !ok {
		return TokenSession{}, ErrInvalidGrant
	}
	next := newSecret()
	sealed, err := seal(next, secret)
	if err != nil {
		return TokenSession{}, err
	}
	p := m.cfg.KeyPrefix
	c, err := m.store.conn(ctx, familyKey(p, id))
	if err != nil {
		return TokenSession{}, m.storeErr("refresh", err)
	}
	defer c.Close()
	reply, err := redis.Values(redispool.DoScript(ctx, c, rotateScript, familyKey(p, id), graceKey(p, id),
		recordKey(p, id), guardKey(p, id[:2]), p, id, hashSecret(secret), hashSecret(next),
		m.cfg.Now().UnixMilli(), m.cfg.RefreshGrace.Milliseconds(), m.cfg.TokenIdleTimeout.Milliseconds(),
		sealed, time.Now().UnixMilli(), maxOldHashes))
	if err != nil {
		return TokenSession{}, m.storeErr("refresh", fmt.Errorf("%w: script: %w", errStore, err))
	}
	var status int
	var uid int64
	var client, current string
	if _, err := redis.Scan(reply, &status); err != nil {
		return TokenSession{}, fmt.Errorf("session: refresh reply: %w", err)
	}
	switch status {
	case 1:
		if _, err := redis.Scan(reply[1:], &uid, &client); err != nil {
			return TokenSession{}, fmt.Errorf("session: refresh reply: %w", err)
		}
		current = next
	case 2:
		var s string
		if _, err := redis.Scan(reply[1:], &uid, &client, &s); err != nil {
			return TokenSession{}, fmt.Errorf("session: refresh reply: %w", err)
		}
		if current, err = seal(s, secret); err != nil {
			return TokenSession{}, err
		}
	case 3:
		_, _ = redis.Scan(reply[1:], &uid)
		// The reuse ended the session: like every revocation, it waits for
		// a replica (durable.go), on the connection that wrote it. Only
		// this outcome waits; a rotation is lost in a failover at worst.
		ack, err := m.store.waitReplicas(ctx, c)
		if err != nil {
			m.log.WarnContext(ctx, "waiting for replicas after a refresh-token reuse", "err", err)
		}
		m.ackMissed(ctx, "refresh_token_reuse", uid, ack)
		return TokenSession{ID: id, UserID: uid}, ErrTokenReused
	default:
		return TokenSession{}, ErrInvalidGrant
	}
	return TokenSession{ID: id, UserID: uid, ClientID: client, Refresh: id + "." + current}, nil
}

func kindOf(values map[string]any) string {
	if stringValue(values, keyKind) == KindAPI {
		return KindAPI
	}
	return KindBrowser
}

func stringValue(values map[string]any, key string) string {
	s, _ := values[key].(string)
	return s
}

// Live returns the session with this id if it is live and belongs to
// userID: one Redis read, the check an access JWT's sid gets wherever
// authd accepts one. The error is ErrSignedOut for an ended, expired or
// foreign session, and wraps ErrUnavailable when Redis could not be asked.
func (m *Manager) Live(ctx context.Context, id string, userID int64) (Info, error) {
	if !validID(id) || userTag(userID) != id[:2] {
		return Info{}, ErrSignedOut
	}
	return m.live(ctx, id, userID)
}

// live reads the record of session id; userID 0 accepts any owner.
func (m *Manager) live(ctx context.Context, id string, userID int64) (Info, error) {
	b, err := redis.Bytes(m.store.do(ctx, "GET", recordKey(m.cfg.KeyPrefix, id)))
	switch {
	case errors.Is(err, redis.ErrNil):
		return Info{}, ErrSignedOut
	case err != nil:
		return Info{}, m.storeErr("live", err)
	}
	deadline, values, err := Codec{}.Decode(b)
	if err != nil {
		return Info{}, ErrSignedOut
	}
	uid, _ := values[keyUserID].(int64)
	signedIn, _ := values[keySignedIn].(int64)
	seenMs, _ := values[keySeen].(int64)
	idleMs, _ := values[keyIdle].(int64)
	idle := m.idleTimeout(idleMs)
	now := time.Now()
	kind := kindOf(values)
	// A token session's idle clock is its record's expiry (refreshes push
	// it), a browser session's is also its last-seen time.
	if uid == 0 || userID != 0 && uid != userID || !now.Before(deadline) || kind == KindBrowser && now.Sub(time.UnixMilli(seenMs)) >= idle {
		return Info{}, ErrSignedOut
	}
	info := Info{
		ID: id, UserID: uid, Name: stringValue(values, keyName), SignedInAt: time.UnixMilli(signedIn),
		Expires: deadline, ClientAddr: stringValue(values, keyAddr), UserAgent: stringValue(values, keyAgent),
		Kind: kind, ClientID: stringValue(values, keyClient),
	}
	info.Remember, _ = values[keyRemember].(bool)
	if at, ok := values[keyAuthAt].(int64); ok {
		info.AuthAt = time.UnixMilli(at)
	}
	if amr := stringValue(values, keyMethods); amr != "" {
		info.Methods = strings.Fields(amr)
	}
	return info, nil
}

// Inspect reports whether refresh token tok is the current token of a live
// family (introspection), and of which session.
func (m *Manager) Inspect(ctx context.Context, tok string) (TokenSession, bool, error) {
	id, secret, ok := parseRefresh(tok)
	if !ok {
		return TokenSession{}, false, nil
	}
	p := m.cfg.KeyPrefix
	reply, err := redis.Values(m.store.script(ctx, inspectScript, familyKey(p, id), recordKey(p, id), hashSecret(secret)))
	if err != nil {
		return TokenSession{}, false, m.storeErr("inspect", err)
	}
	if len(reply) < 3 {
		return TokenSession{}, false, nil
	}
	var ts TokenSession
	var deadline int64
	if _, err := redis.Scan(reply, &ts.UserID, &ts.ClientID, &deadline); err != nil {
		return TokenSession{}, false, fmt.Errorf("session: inspect reply: %w", err)
	}
	ts.ID, ts.Expires = id, time.UnixMilli(deadline)
	return ts, true, nil
}

// inspectScript answers {uid, client, deadline} for the current token of a
// family whose record exists, else {}. KEYS: family, record. ARGV: hash.
var inspectScript = redis.NewScript(2, `
local f = redis.call('HMGET', KEYS[1], 'c', 'u', 'k', 'd')
if f[1] ~= ARGV[1] or redis.call('EXISTS', KEYS[2]) == 0 then return {} end
return {f[2], f[3], f[4]}
`)

// RevokeRefresh ends the session of refresh token tok if tok is its
// current, previous or a remembered older token (RFC 7009: whoever holds
// one may end it); it reports whether a session was ended.
func (m *Manager) RevokeRefresh(ctx context.Context, tok string) (userID int64, err error) {
	id, secret, ok := parseRefresh(tok)
	if !ok {
		return 0, nil
	}
	p := m.cfg.KeyPrefix
	reply, ack, err := m.store.durableScript(ctx, revokeFamilyScript, familyKey(p, id), graceKey(p, id),
		recordKey(p, id), guardKey(p, id[:2]), p, id, hashSecret(secret))
	n, err := redis.Int64(reply, err)
	if err != nil {
		return 0, m.storeErr("revoke refresh token", err)
	}
	if n > 0 {
		m.ackMissed(ctx, "revoke", n, ack)
	}
	return n, nil
}

// revokeFamilyScript ends the session of a family one of whose tokens it
// is given, and answers the user id (0 when nothing was ended).
// KEYS: family, grace, record, guard (keys.go). ARGV: prefix, id, hash.
var revokeFamilyScript = redis.NewScript(4, luaKeys+luaSettle+luaIndex+`
local f = redis.call('HMGET', KEYS[1], 'c', 'p', 'o', 'u')
if not f[1] then return 0 end
local h = ARGV[3]
local known = (h == f[1] or h == f[2])
if not known then
  for i = 1, #f[3], #h do
    if string.sub(f[3], i, i + #h - 1) == h then known = true break end
  end
end
if not known then return 0 end
local ttl = redis.call('PTTL', KEYS[3])
local n = redis.call('DEL', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[2])
local ix = index(ARGV[2], f[4])
if redis.call('ZREM', ix, ARGV[2]) == 1 then settle(ix) end
if n == 0 then return 0 end
if ttl > 0 then redis.call('SET', tomb(ARGV[2]), 'revoked', 'PX', ttl) end
return tonumber(f[4])
`)

// EndSession ends the session with this id of userID (a revoked access
// token), as Revoke does, without the current-session check.
func (m *Manager) EndSession(ctx context.Context, userID int64, id string) (bool, error) {
	if !validID(id) {
		return false, nil
	}
	n, ack, err := m.store.revoke(ctx, userID, id, "", 0, 0, EndRevoked)
	if err != nil {
		return false, m.storeErr("end session", err)
	}
	m.ackMissed(ctx, "revoke", userID, ack)
	return n > 0, nil
}

// Device is how the entry's device is shown in session lists: the browser
// summary, or "API client · <client_id or user agent>".
func (e Entry) Device() string {
	if e.Kind != KindAPI {
		return e.UserAgent
	}
	name := e.ClientID
	if name == "" {
		name = e.UserAgent
	}
	if name == "" {
		return "API client"
	}
	return "API client · " + name
}

// UseSession makes info the signed-in session of ctx's request, or err its
// failure (wrapping ErrUnavailable): for a request that presented no
// session token but an access token whose session Live confirmed. It must
// run inside Middleware, on a request that is not signed in otherwise.
func (m *Manager) UseSession(ctx context.Context, info Info, err error) {
	st, ok := ctx.Value(stateKey{}).(*state)
	if !ok || st.signedIn {
		return
	}
	if err != nil {
		st.err = err
		return
	}
	st.signedIn, st.info, st.viaAccessToken = true, info, true
}

// LiveToken returns the live session named by a session token (a cookie's
// or a bearer's value), for introspection; ErrSignedOut when there is none.
func (m *Manager) LiveToken(ctx context.Context, tok string) (Info, error) {
	if validToken(tok) == "" {
		return Info{}, ErrSignedOut
	}
	return m.live(ctx, tokenID(tok), 0)
}
