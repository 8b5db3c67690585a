package session

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
)

// Key layout. Every key of one user carries the same Redis Cluster hash tag
// {tt}, so that each script below touches a single slot and stays atomic on
// one node, under Sentinel and in a Redis Cluster alike:
//
//	P{tt}iiii…   record of one session (scs/redisstore's layout: the encoded
//	             session under the configured prefix, here P{tt}, expiring at
//	             the session's idle or absolute deadline, whichever is first)
//	P{tt}u:UID   the user's index: sorted set of session ids, score = sign-in
//	             time in unix ms; it expires with the last of its sessions
//	P{tt}e:UID   the user's credential epoch (see ErrCredentialsChanged)
//	P{tt}g:iii…  tombstone of a session that was ended by someone else: why
//	             (EndReason), kept as long as the session could have lived
//
// P is the configured prefix. A session's id ("tt" + 22 characters) is
// derived from the SHA-256 of its token, which is what scs hands the store
// (HashTokenInStore): tt is the hash's first byte in hex, the rest is the
// next 16 bytes in base64url. The token itself is never stored, and the id
// is no credential: presenting it as a token hashes it again.
//
// A user's tag is a hash of the user id. Sign-in draws new tokens until the
// id of one begins with the user's tag (256 tries on average, ~0.1 ms), so
// that the read path finds the record from the token alone, in one GET,
// and the cookie carries nothing but random bits.

// idLen is the length of a session id.
const idLen = 24

// sessionID returns the id of the session whose token hashes to hashed
// (base64url SHA-256, as scs passes it to the store), or "" when hashed is
// not such a hash.
func sessionID(hashed string) string {
	sum, err := base64.RawURLEncoding.DecodeString(hashed)
	if err != nil || len(sum) != sha256.Size {
		return ""
	}
	return hex.EncodeToString(sum[:1]) + base64.RawURLEncoding.EncodeToString(sum[1:17])
}

// tokenID is the id of the session a raw token names.
func tokenID(token string) string {
	return sessionID(hashToken(token))
}

// validID reports whether id has the form of a session id, so that no
// other input ever reaches a key name.
func validID(id string) bool {
	if len(id) != idLen || !isLowerHex(id[0]) || !isLowerHex(id[1]) {
		return false
	}
	// Re-encoding refuses what the lenient decoder lets through (\r, \n,
	// non-zero padding bits).
	raw, err := base64.RawURLEncoding.DecodeString(id[2:])
	return err == nil && len(raw) == 16 && base64.RawURLEncoding.EncodeToString(raw) == id[2:]
}

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// userTag is the hash tag of a user's keys: two hex digits.
func userTag(userID int64) string {
	sum := sha256.Sum256([]byte("authd user tag:" + strconv.FormatInt(userID, 10)))
	return hex.EncodeToString(sum[:1])
}

// RecordKey is the Redis key of the record of the session named by token,
// under prefix; for tools that inspect or age records (cmd/authbench).
func RecordKey(prefix, token string) string {
	return recordKey(prefix, tokenID(token))
}

func recordKey(prefix, id string) string {
	return prefix + "{" + id[:2] + "}" + id[2:]
}

func tombKey(prefix, id string) string {
	return prefix + "{" + id[:2] + "}g:" + id[2:]
}

// IndexKey is the Redis key of the user's index under prefix; for tools and
// tests that inspect Redis.
func IndexKey(prefix string, userID int64) string {
	return prefix + "{" + userTag(userID) + "}u:" + strconv.FormatInt(userID, 10)
}

func (s *Store) indexKey(userID int64) string { return IndexKey(s.prefix, userID) }

func (s *Store) epochKey(userID int64) string {
	return s.prefix + "{" + userTag(userID) + "}e:" + strconv.FormatInt(userID, 10)
}

// guardKey is a key that is never written, declared by every script that
// reaches keys it does not declare (records and tombstones found through
// the index, the index named from a family). Redis Cluster checks only the
// keys a script declares: while a slot migrates, a user's keys can sit
// half on each node, and such a script would see half a user. A declared
// key that is missing makes the cluster answer TRYAGAIN (on the migrating
// node when other keys are there, on the importing node always), so these
// scripts never run while their slot migrates, and run as one node's
// atomic script otherwise. A lone Redis ignores it. What it cannot cover is
// a failover of the source in the middle of a migration: the promoted
// replica does not know the slot was migrating (Redis 7.0), so run
// redis-cli --cluster fix before such a cluster takes writes again
// (docs/cluster.md).
func guardKey(prefix, tag string) string { return prefix + "{" + tag + "}x:migrating" }

// luaKeys defines, at the top of every script, the functions that build
// record and tombstone keys from the prefix and an id, as recordKey and
// tombKey do: the keys of a user's sessions are found through the index,
// so a script cannot be handed them all as KEYS.
const luaKeys = `
local P = ARGV[1]
local function rec(id) return P .. '{' .. string.sub(id, 1, 2) .. '}' .. string.sub(id, 3) end
local function tomb(id) return P .. '{' .. string.sub(id, 1, 2) .. '}g:' .. string.sub(id, 3) end
local function drop(id)
  local t = P .. '{' .. string.sub(id, 1, 2) .. '}'
  redis.call('DEL', t .. 'r:' .. string.sub(id, 3), t .. 'w:' .. string.sub(id, 3))
  return redis.call('DEL', rec(id))
end
`
