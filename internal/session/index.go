package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/sessionauth/authd/internal/redispool"
)

// Each user's live sessions are indexed in Redis beside the records (see
// keys.go), so that listing and revoking them costs O(that user's
// sessions), never a scan of the keyspace. The index expires with the last
// of its sessions: creating or refreshing a session extends the index's
// expiry to the record's, and ending one recomputes it from the sessions
// that remain, so no index outlives its user's last session. Entries whose
// record expired on its own are pruned when the index is written or listed.

// ErrCredentialsChanged: the user's password changed after this sign-in
// checked it, so the session was not created.
var ErrCredentialsChanged = errors.New("session: credentials changed during sign-in")

// ErrNoSession: the user has no live session with the given id.
var ErrNoSession = errors.New("session: no such session")

// luaSettle defines settle(index): it drops the entries whose record is
// gone and sets the index's expiry to that of its longest-lived record (an
// empty sorted set is deleted by Redis itself). It needs luaKeys.
const luaSettle = `
local function settle(index)
  local best = 0
  for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local ttl = redis.call('PTTL', rec(id))
    if ttl == -2 then redis.call('ZREM', index, id) elseif ttl > best then best = ttl end
  end
  if best > 0 then redis.call('PEXPIRE', index, best) else redis.call('DEL', index) end
end
`

// createScript writes a new record (SET NX), refuses it when the user's
// credential epoch moved past the session's, prunes the index's oldest
// entries whose record has expired (at most 64, so that a sign-in's work
// stays bounded however large the index), ends the oldest sessions beyond
// the cap (leaving tombstones), adds the new one, and keeps the index alive
// as long as its longest-lived session. All or nothing, because it is one
// script.
//
// KEYS: record, index, epoch, guard (keys.go). ARGV: prefix, value, expiry ms, created µs,
// epoch, max sessions, id. The index's expiry is the record's absolute
// one (PEXPIREAT), never a duration from a time taken before the script
// ran, so the index cannot outlive its last record.
var createScript = redis.NewScript(4, luaKeys+luaSettle+`
local cur = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[5]) < cur then return -1 end
if not redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3], 'NX') then return -2 end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, 63)) do
  if redis.call('EXISTS', rec(id)) == 0 then redis.call('ZREM', KEYS[2], id) end
end
local evicted = 0
local cap = tonumber(ARGV[6])
if cap > 0 then
  local over = redis.call('ZCARD', KEYS[2]) - cap + 1
  if over > 0 then
    local old = redis.call('ZPOPMIN', KEYS[2], over)
    for i = 1, #old, 2 do
      local ttl = redis.call('PTTL', rec(old[i]))
      if drop(old[i]) == 1 then
        evicted = evicted + 1
        if ttl > 0 then redis.call('SET', tomb(old[i]), 'revoked', 'PX', ttl) end
      end
    end
  end
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[7])
if evicted > 0 then
  settle(KEYS[2])
elseif redis.call('PTTL', KEYS[2]) < 0 then
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
else
  redis.call('PEXPIREAT', KEYS[2], ARGV[3], 'GT')
end
return evicted
`)

// refreshScript rewrites a record only while it exists (a session ended
// meanwhile stays ended) and extends the index's expiry to the record's.
// It reads nothing (PEXPIREAT … GT, Redis 7), so that a read-only request
// costs one read however often its session is refreshed.
//
// KEYS: record, index. ARGV: value, expiry ms.
var refreshScript = redis.NewScript(2, `
if not redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'XX') then return 0 end
redis.call('PEXPIREAT', KEYS[2], ARGV[2], 'GT')
return 1
`)

// endScript ends one session of a user, as its owner signing out does:
// record and index entry go together, and the index's expiry follows the
// sessions that remain.
//
// KEYS: record, index, guard. ARGV: prefix, id.
var endScript = redis.NewScript(3, luaKeys+luaSettle+`
redis.call('DEL', KEYS[1])
if redis.call('ZREM', KEYS[2], ARGV[2]) == 1 then settle(KEYS[2]) end
return 0
`)

// revokeScript ends indexed sessions on someone else's behalf: one id
// (which must be in this user's index, so nobody can end another user's
// session by naming it), or every id but keep. Each leaves a tombstone
// saying why, for as long as the session could have lived, so that the
// device holding it can be told. With a positive epoch it first raises the
// user's epoch, so that sign-ins still in flight with the old password fail.
//
// KEYS: index, epoch, guard. ARGV: prefix, only id or "", keep id or "",
// epoch, epoch lifetime ms, reason.
var revokeScript = redis.NewScript(3, luaKeys+luaSettle+`
local epoch = tonumber(ARGV[4])
if epoch > 0 and epoch > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], epoch, 'PX', ARGV[5])
end
local ids
if ARGV[2] ~= '' then ids = {ARGV[2]} else ids = redis.call('ZRANGE', KEYS[1], 0, -1) end
local n = 0
for _, id in ipairs(ids) do
  if id ~= ARGV[3] and redis.call('ZREM', KEYS[1], id) == 1 then
    local ttl = redis.call('PTTL', rec(id))
    if drop(id) == 1 then
      n = n + 1
      if ttl > 0 then redis.call('SET', tomb(id), ARGV[6], 'PX', ttl) end
    end
  end
end
settle(KEYS[1])
return n
`)

// create writes a new session record and its index entry.
func (s *Store) create(ctx context.Context, id string, b []byte, expiry time.Time, o *createOpts) error {
	n, err := redis.Int(s.script(ctx, createScript,
		recordKey(s.prefix, id), s.indexKey(o.userID), s.epochKey(o.userID), guardKey(s.prefix, id[:2]),
		s.prefix, b, expiry.UnixMilli(), o.created.UnixMicro(), o.epoch, o.maxSessions, id))
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

// refresh rewrites an existing record (errGone when it is gone) and keeps
// the user's index alive as long as it.
func (s *Store) refresh(ctx context.Context, userID int64, id string, b []byte, expiry time.Time) error {
	n, err := redis.Int(s.script(ctx, refreshScript, recordKey(s.prefix, id), s.indexKey(userID),
		b, expiry.UnixMilli()))
	if err != nil {
		return err
	}
	if n == 0 {
		return errGone
	}
	return nil
}

// end deletes a session and its index entry; without a user (a record that
// names none) just the record. It waits for replicas (durable.go).
func (s *Store) end(ctx context.Context, userID int64, id string) (ackResult, error) {
	if userID == 0 {
		_, ack, err := s.durableDo(ctx, "DEL", recordKey(s.prefix, id))
		return ack, err
	}
	_, ack, err := s.durableScript(ctx, endScript, recordKey(s.prefix, id), s.indexKey(userID), guardKey(s.prefix, id[:2]), s.prefix, id)
	return ack, err
}

// endExpired is end for a session whose clock ran out, which no failover
// can bring back to life (its deadlines are checked on every request), so
// nothing waits for replicas.
func (s *Store) endExpired(ctx context.Context, userID int64, id string) error {
	if userID == 0 {
		_, err := s.do(ctx, "DEL", recordKey(s.prefix, id))
		return err
	}
	_, err := s.script(ctx, endScript, recordKey(s.prefix, id), s.indexKey(userID), guardKey(s.prefix, id[:2]), s.prefix, id)
	return err
}

// revoke runs revokeScript (see there for the arguments) and waits for
// replicas (durable.go).
func (s *Store) revoke(ctx context.Context, userID int64, only, keep string, epoch int64, epochTTL time.Duration, why EndReason) (int, ackResult, error) {
	reply, ack, err := s.durableScript(ctx, revokeScript, s.indexKey(userID), s.epochKey(userID), guardKey(s.prefix, userTag(userID)),
		s.prefix, only, keep, epoch, epochTTL.Milliseconds(), string(why))
	n, err := redis.Int(reply, err)
	return n, ack, err
}

// tombstone returns why the session with this id was ended by someone
// else, or "" when it was not (it expired, or never existed).
func (s *Store) tombstone(ctx context.Context, id string) (EndReason, error) {
	why, err := redis.String(s.do(ctx, "GET", tombKey(s.prefix, id)))
	if errors.Is(err, redis.ErrNil) {
		return "", nil
	}
	return EndReason(why), err
}

// indexEntry is one member of a user's index with its record, if it still exists.
type indexEntry struct {
	id      string
	created time.Time
	record  []byte // nil when the record is gone
}

// list returns the user's indexed sessions with their records, and prunes
// members whose record has expired.
func (s *Store) list(ctx context.Context, userID int64) ([]indexEntry, error) {
	c, err := s.conn(ctx, s.indexKey(userID))
	if err != nil {
		return nil, err
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
		if !validID(pairs[i]) {
			continue // not written by this version; pruned by the next settle
		}
		score, _ := strconv.ParseFloat(pairs[i+1], 64)
		entries = append(entries, indexEntry{id: pairs[i], created: indexTime(score)})
		keys = append(keys, recordKey(s.prefix, pairs[i]))
	}
	if len(keys) == 0 {
		return nil, nil
	}
	records, err := redis.ByteSlices(redispool.Do(ctx, c, "MGET", keys...))
	if err != nil {
		return nil, fmt.Errorf("%w: MGET: %w", errStore, err)
	}
	var gone []any
	live := entries[:0]
	for i, e := range entries {
		if i >= len(records) || records[i] == nil {
			gone = append(gone, e.id)
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

func (s *Store) script(ctx context.Context, sc *redis.Script, keysAndArgs ...any) (any, error) {
	c, err := s.conn(ctx, firstKey(keysAndArgs))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	reply, err := redispool.DoScript(ctx, c, sc, keysAndArgs...)
	if err != nil {
		return nil, fmt.Errorf("%w: script: %w", errStore, err)
	}
	return reply, nil
}

// indexTime reads an index score: the sign-in time in microseconds, so
// that sessions started in the same millisecond still sort by age and the
// cap ends the oldest (ZPOPMIN breaks ties by member, a random id).
// Scores below 1e14 are milliseconds, written before that change. The
// time shown is to the millisecond, like every other time of a session.
func indexTime(score float64) time.Time {
	if score < 1e14 {
		return time.UnixMilli(int64(score))
	}
	return time.UnixMilli(int64(score) / 1000)
}
