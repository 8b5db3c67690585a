// Package throttle limits attempts (failed sign-ins, sign-ups) with counters
// kept in Redis, so that every server instance sees the same counts.
//
// An attempt is reserved before the expensive work (bcrypt) is done: one
// atomic script checks every counter that applies and, only if none is at
// its limit, counts the attempt in all of them. Concurrent attempts can
// therefore never exceed a limit, however many instances race. A successful
// sign-in resets the account's counter and gives back its slot in the
// address's counter, so only failures accumulate; counters expire a window
// after their first attempt, so a limit can delay a real user but never
// lock them out for good. Take also says how many attempts are left, so
// that a user can be warned before a lock.
//
// Which counters an attempt counts against is the caller's choice: the
// server counts a stranger's sign-in per account and per address, and a
// known device's (package device) or a signed-in session's against its own
// budget only, so that strangers cannot lock the owner out.
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/redispool"
)

// ErrUnavailable wraps failures of Redis: whether the attempt may proceed
// is unknown, and callers refuse it (fail closed).
var ErrUnavailable = errors.New("throttle: store unavailable")

// Counter is one limit an attempt counts against.
type Counter struct {
	// Scope names the limit in logs and answers: "account", "address", "signup".
	Scope string
	// Key identifies what is counted within the scope; see AccountKey and
	// AddressKey.
	Key string
	// Limit is the number of attempts allowed per Window; zero or less
	// disables the counter.
	Limit  int
	Window time.Duration
}

// Refused describes an attempt that a counter refused.
type Refused struct {
	Scope      string
	RetryAfter time.Duration
}

// Taken is the outcome of Take.
type Taken struct {
	// Refused is set when a counter was at its limit; nothing was counted.
	Refused *Refused
	// Left is how many more attempts the tightest counter allows after
	// this one, or -1 when no counter applies.
	Left int
}

// Limiter counts attempts in Redis under a key prefix.
type Limiter struct {
	conns  redispool.Source
	prefix string
}

// New returns a Limiter keeping its counters under prefix in conns' Redis.
func New(conns redispool.Source, prefix string) *Limiter {
	return &Limiter{conns: conns, prefix: prefix}
}

// takeScript: KEYS are the counters, ARGV their limits then their windows
// in ms. Returns {0, attempts left on the tightest counter} when the attempt
// was counted everywhere, else the index (1-based) of the first counter at
// its limit and its remaining ms.
var takeScript = redis.NewScript(-1, `
local n = #KEYS
for i = 1, n do
  local limit = tonumber(ARGV[i])
  if limit > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[i], ARGV[n + i])
      ttl = tonumber(ARGV[n + i])
    end
    return {i, ttl}
  end
end
local left = -1
for i = 1, n do
  local limit = tonumber(ARGV[i])
  if limit > 0 then
    local count = redis.call('INCR', KEYS[i])
    if count == 1 then
      redis.call('PEXPIRE', KEYS[i], ARGV[n + i])
    end
    if left < 0 or limit - count < left then
      left = limit - count
    end
  end
end
return {0, left}
`)

// Take reserves one attempt against every counter, atomically. When a
// counter is at its limit, nothing is counted and Taken.Refused says which;
// otherwise Taken.Left says how many attempts remain.
func (l *Limiter) Take(ctx context.Context, counters ...Counter) (Taken, error) {
	var active []Counter
	for _, c := range counters {
		if c.Limit > 0 {
			active = append(active, c)
		}
	}
	if len(active) == 0 {
		return Taken{Left: -1}, nil
	}
	args := make([]any, 0, 1+3*len(active))
	args = append(args, len(active))
	for _, c := range active {
		args = append(args, l.key(c))
	}
	for _, c := range active {
		args = append(args, c.Limit)
	}
	for _, c := range active {
		args = append(args, c.Window.Milliseconds())
	}
	conn, err := l.conns.Get(ctx, l.key(active[0]))
	if err != nil {
		return Taken{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer conn.Close()
	reply, err := redis.Int64s(redispool.DoScript(ctx, conn, takeScript, args...))
	if err == nil && (len(reply) != 2 || reply[0] < 0 || reply[0] > int64(len(active))) {
		err = fmt.Errorf("unexpected reply %v", reply)
	}
	if err != nil {
		return Taken{}, fmt.Errorf("%w: take: %w", ErrUnavailable, err)
	}
	if reply[0] == 0 {
		return Taken{Left: int(reply[1])}, nil
	}
	c := active[reply[0]-1]
	return Taken{Refused: &Refused{Scope: c.Scope, RetryAfter: time.Duration(reply[1]) * time.Millisecond}}, nil
}

// settleScript: ARGV[1] keys (from the first) are reset, the others are
// decremented while positive.
var settleScript = redis.NewScript(-1, `
for i, key in ipairs(KEYS) do
  if i <= tonumber(ARGV[1]) then
    redis.call('DEL', key)
  elseif tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
`)

// Succeeded records that an attempt reserved with Take succeeded: the reset
// counter starts again from zero (the account, or the device: a success
// proves the owner), and the refund counters get their slot back (the
// address: other people may share it, and only failures should count).
func (l *Limiter) Succeeded(ctx context.Context, reset Counter, refund ...Counter) error {
	return l.settle(ctx, []Counter{reset}, refund)
}

// Refund gives back the slots an attempt reserved with Take when the
// attempt could not be decided (a dependency failed): it was no failure.
func (l *Limiter) Refund(ctx context.Context, counters ...Counter) error {
	return l.settle(ctx, nil, counters)
}

func (l *Limiter) settle(ctx context.Context, reset, refund []Counter) error {
	args := []any{0}
	for _, c := range reset {
		args = append(args, l.key(c))
	}
	n := len(args) - 1
	for _, c := range refund {
		if c.Limit > 0 {
			args = append(args, l.key(c))
		}
	}
	if len(args) == 1 {
		return nil
	}
	args[0] = len(args) - 1
	args = append(args, n)
	conn, err := l.conns.Get(ctx, args[1].(string))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer conn.Close()
	if _, err := redispool.DoScript(ctx, conn, settleScript, args...); err != nil {
		return fmt.Errorf("%w: settle: %w", ErrUnavailable, err)
	}
	return nil
}

// tag is the Redis Cluster hash tag of every counter: one attempt counts
// on the account, the address and the device in one script, which a
// cluster runs only when all its keys share a slot. Sign-ins are few (each
// costs a bcrypt), so one slot on one node carries a whole deployment's.
const tag = "{throttle}"

func (l *Limiter) key(c Counter) string {
	return l.prefix + tag + c.Scope + ":" + c.Key
}

// AccountKey is the counter key of a sign-in name: a hash, so that any
// input, however long or strange, makes a short key, and the same for
// every spelling that names the same account (pass the normalised name
// when there is one).
func AccountKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:12])
}

// AddressKey is the counter key of a client address. IPv6 addresses count
// per /64, the block one subscriber usually gets, so that hopping between
// addresses of one block does not escape the limit.
func AddressKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return "other:" + AccountKey(addr)
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return strings.ReplaceAll(p.String(), ":", "_")
	}
	return ip.String()
}
