package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"
)

// Errors the store reports through scs.
var (
	// errGone: an update found no record to update, because the session was
	// signed out, revoked or expired while the request was in flight.
	errGone = errors.New("session: record no longer exists")
	// errStore marks failures of Redis itself, as opposed to undecodable data.
	errStore = errors.New("session: store")
)

// Store keeps scs session records in Redis. It lays out keys exactly like
// scs/redisstore (prefix + SHA-256 of the token, value = encoded session,
// expiry on the key), and differs in two ways that matter:
//
//   - every call takes its connection and runs its command with the request's
//     context, so a request waiting for a free connection gives up when its
//     context ends (each command is also bounded by the pool's timeouts);
//   - a commit never brings a deleted session back. scs rewrites a session
//     after a request has loaded it; redisstore's unconditional SET would
//     resurrect a session that a sign-out deleted in the meantime. Updates here
//     use SET … XX (only if the key still exists) and new tokens SET … NX.
type Store struct {
	pool   *redis.Pool
	prefix string
}

var _ scs.CtxStore = (*Store)(nil)

// NewStore returns a store keeping records under prefix in pool's Redis.
func NewStore(pool *redis.Pool, prefix string) *Store {
	return &Store{pool: pool, prefix: prefix}
}

type createKey struct{}

// withCreate marks a commit as the first write of a freshly generated token.
// Every other commit is an update and succeeds only while the record exists.
func withCreate(ctx context.Context) context.Context {
	return context.WithValue(ctx, createKey{}, true)
}

// FindCtx returns the record stored under the (hashed) token.
func (s *Store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	b, err := redis.Bytes(s.do(ctx, "GET", s.prefix+token))
	if errors.Is(err, redis.ErrNil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// CommitCtx writes a record that expires at expiry. An update of a record
// that no longer exists writes nothing and returns errGone.
func (s *Store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	create, _ := ctx.Value(createKey{}).(bool)
	if !expiry.After(time.Now()) {
		// Already expired: nothing to keep.
		if err := s.DeleteCtx(ctx, token); err != nil {
			return err
		}
		return errGone
	}
	cond := "XX"
	if create {
		cond = "NX"
	}
	reply, err := s.do(ctx, "SET", s.prefix+token, b, "PXAT", expiry.UnixMilli(), cond)
	if err != nil {
		return err
	}
	if reply == nil {
		if create {
			// 256 random bits collided with a live token: never overwrite it.
			return fmt.Errorf("%w: new token already in use", errStore)
		}
		return errGone
	}
	return nil
}

// DeleteCtx removes the record stored under the (hashed) token.
func (s *Store) DeleteCtx(ctx context.Context, token string) error {
	_, err := s.do(ctx, "DEL", s.prefix+token)
	return err
}

// Find implements scs.Store for callers without a context.
func (s *Store) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store for callers without a context; it updates only.
func (s *Store) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store for callers without a context.
func (s *Store) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

func (s *Store) do(ctx context.Context, cmd string, args ...any) (any, error) {
	c, err := s.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: get connection: %w", errStore, err)
	}
	defer c.Close()
	reply, err := redis.DoContext(c, ctx, cmd, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errStore, cmd, err)
	}
	return reply, nil
}
