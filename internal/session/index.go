package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/sessionauth/authd/internal/redispool"
)

// Each user's live sessions are indexed in Redis beside the records, so
// that listing and revoking them costs O(that user's sessions), never a scan
// of the keyspace:
//
//	PREFIX user:UID   sorted set; member = hashed token (the record's key
//	                  suffix), score = sign-in time in unix ms. Its expiry
//	                  is the latest absolute deadline of its sessions.
//	PREFIX epoch:UID  the user's credential epoch, copied from SQL when the
//	                  password changes; a session created for an older epoch
//	                  is refused. Expires after the longest session lifetime.
//
// Entries whose record has expired are pruned whenever the index is written
// or listed. The scripts build record keys from PREFIX and the members, so
// they need one Redis node (or Sentinel), not Redis Cluster.

// ErrCredentialsChanged: the user's password changed after this sign-in
// checked it, so the session was not created.
var ErrCredentialsChanged = errors.New("session: credentials changed during sign-in")

// ErrNoSession: the user has no live session with the given id.
var ErrNoSession = errors.New("session: no such session")

// createScript writes a new record (SET NX), refuses it when the user's
// credential epoch moved past the session's, prunes the index's oldest
// entries whose record has expired (at most 64, so that a sign-in's
// work stays bounded however large the index), adds the new one, ends the
// oldest sessions beyond the cap, and keeps the index alive as long as its
// longest session. All or nothing, because it is one script.
//
// KEYS: record, index, epoch. ARGV: value, expiry ms, created ms, epoch,
// max sessions, index expiry ms, record key prefix, member, now ms.
var createScript = redis.NewScript(3, `
local cur = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[4]) < cur then return -1 end
if not redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'NX') then return -2 end
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, 63)) do
  if redis.call('EXISTS', ARGV[7] .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
end
local evicted = 0
local cap = tonumber(ARGV[5])
if cap > 0 then
  local over = redis.call('ZCARD', KEYS[2]) - cap + 1
  if over > 0 then
    local old = redis.call('ZPOPMIN', KEYS[2], over)
    for i = 1, #old, 2 do evicted = evicted + redis.call('DEL', ARGV[7] .. old[i]) end
  end
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[8])
local ttl = redis.call('PTTL', KEYS[2])
local want = tonumber(ARGV[6]) - tonumber(ARGV[9])
if ttl < want then redis.call('PEXPIRE', KEYS[2], want) end
return evicted
`)

// revokeScript deletes indexed sessions: one member (which must be in this
// user's index, so nobody can end another user's session by naming it), or
// every member but keep. With a positive epoch it first raises the user's
// epoch, so that sign-ins still in flight with the old password fail.
//
// KEYS: index, epoch. ARGV: record key prefix, only member or "", keep
// member or "", epoch, epoch lifetime ms.
var revokeScript = redis.NewScript(2, `
local epoch = tonumber(ARGV[4])
if epoch > 0 and epoch > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], epoch, 'PX', ARGV[5])
end
local members
if ARGV[2] ~= '' then members = {ARGV[2]} else members = redis.call('ZRANGE', KEYS[1], 0, -1) end
local n = 0
for _, m in ipairs(members) do
  if m ~= ARGV[3] and redis.call('ZREM', KEYS[1], m) == 1 then
    n = n + redis.call('DEL', ARGV[1] .. m)
  end
end
return n
`)

func (s *Store) indexKey(userID int64) string {
	return s.prefix + "user:" + strconv.FormatInt(userID, 10)
}

func (s *Store) epochKey(userID int64) string {
	return s.prefix + "epoch:" + strconv.FormatInt(userID, 10)
}

// create writes a new session record and its index entry.
func (s *Store) create(ctx context.Context, token string, b []byte, expiry time.Time, o *createOpts) error {
	n, err := redis.Int(s.script(ctx, createScript,
		s.prefix+token, s.indexKey(o.userID), s.epochKey(o.userID),
		b, expiry.UnixMilli(), o.created.UnixMilli(), o.epoch,
		o.maxSessions, o.indexExpiry.UnixMilli(), s.prefix, token, time.Now().UnixMilli()))
	switch {
	case err != nil:
		return err
	case n == -1:
		return ErrCredentialsChanged
	case n == -2:
		return errTokenInUse
	}
	o.evicted = n
	return nil
}

// indexEntry is one member of a user's index with its record, if it still exists.
type indexEntry struct {
	member  string // hashed token
	created time.Time
	record  []byte // nil when the record is gone
}

// list returns the user's indexed sessions with their records, and prunes
// members whose record has expired.
func (s *Store) list(ctx context.Context, userID int64) ([]indexEntry, error) {
	c, err := s.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: get connection: %w", errStore, err)
	}
	defer c.Close()
	pairs, err := redis.Strings(redispool.Do(ctx, c, "ZRANGE", s.indexKey(userID), 0, -1, "WITHSCORES"))
	if err != nil {
		return nil, fmt.Errorf("%w: ZRANGE: %w", errStore, err)
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	entries := make([]indexEntry, 0, len(pairs)/2)
	keys := make([]any, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		ms, _ := strconv.ParseFloat(pairs[i+1], 64)
		entries = append(entries, indexEntry{member: pairs[i], created: time.UnixMilli(int64(ms))})
		keys = append(keys, s.prefix+pairs[i])
	}
	records, err := redis.ByteSlices(redispool.Do(ctx, c, "MGET", keys...))
	if err != nil {
		return nil, fmt.Errorf("%w: MGET: %w", errStore, err)
	}
	var gone []any
	live := entries[:0]
	for i, e := range entries {
		if i >= len(records) || records[i] == nil {
			gone = append(gone, e.member)
			continue
		}
		e.record = records[i]
		live = append(live, e)
	}
	if len(gone) > 0 {
		// Best effort: a failed prune is retried by the next list or sign-in.
		_, _ = redispool.Do(ctx, c, "ZREM", append([]any{s.indexKey(userID)}, gone...)...)
	}
	return live, nil
}

// revoke runs revokeScript; see there for the arguments.
func (s *Store) revoke(ctx context.Context, userID int64, only, keep string, epoch int64, epochTTL time.Duration) (int, error) {
	return redis.Int(s.script(ctx, revokeScript, s.indexKey(userID), s.epochKey(userID),
		s.prefix, only, keep, epoch, epochTTL.Milliseconds()))
}

func (s *Store) script(ctx context.Context, sc *redis.Script, keysAndArgs ...any) (any, error) {
	c, err := s.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: get connection: %w", errStore, err)
	}
	defer c.Close()
	reply, err := redispool.DoScript(ctx, c, sc, keysAndArgs...)
	if err != nil {
		return nil, fmt.Errorf("%w: script: %w", errStore, err)
	}
	return reply, nil
}

// publicID is the id a session is shown and revoked by: derived from the
// hashed token by a second hash, so it reveals neither the token nor the
// key of its record, and needs no storage.
func publicID(member string) string {
	sum := sha256.Sum256([]byte("authd session id:" + member))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}
