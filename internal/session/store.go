package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"
	"github.com/sessionauth/authd/internal/redispool"
)

// Errors the store reports through scs.
var (
	// errGone: an update found no record to update, because the session was
	// signed out, revoked or expired while the request was in flight.
	errGone = errors.New("session: record no longer exists")
	// errStore marks failures of Redis itself, as opposed to undecodable data.
	errStore = errors.New("session: store")
	// errTokenInUse: 256 random bits collided with a live token; the live
	// session is never overwritten.
	errTokenInUse = fmt.Errorf("%w: new token already in use", errStore)
)

// Store keeps scs session records in Redis. It lays out records like
// scs/redisstore (a prefix, the hashed token, the encoded session as the
// value and the expiry on the key; keys.go adds a hash tag), and differs in
// two ways that matter:
//
//   - every call takes its connection with the request's context, so a
//     request waiting for a free connection gives up when its context ends,
//     and runs its command within the context's deadline and the pool's
//     timeouts (redispool.Do: no goroutine per command);
//   - a commit never brings a deleted session back. scs rewrites a session
//     after a request has loaded it; redisstore's unconditional SET would
//     resurrect a session that a sign-out deleted in the meantime. Updates here
//     use SET … XX (only if the key still exists) and new tokens SET … NX.
type Store struct {
	conns  redispool.Source
	prefix string
	// ackTimeout bounds the wait for replicas after a write that ends
	// sessions (durable.go); zero or negative: no wait.
	ackTimeout time.Duration
}

var _ scs.CtxStore = (*Store)(nil)

// NewStore returns a store keeping records under prefix in conns' Redis.
func NewStore(conns redispool.Source, prefix string) *Store {
	return &Store{conns: conns, prefix: prefix}
}

// commitOpts travel with the context from Manager through scs.Commit to
// CommitCtx, which scs calls with only a token, a value and an expiry.
type commitOpts struct {
	// idleExpiry, when set, shortens the record's expiry to the session's
	// idle deadline (scs's own IdleTimeout is not used: it is one value for
	// every session, and "keep me signed in" needs another).
	idleExpiry time.Time
	// userID, on an update, names the index whose expiry follows the
	// record's (the index lives as long as its longest-lived session).
	userID int64
	// create marks the first write of a freshly generated token. Every other
	// commit is an update and succeeds only while the record exists.
	create *createOpts
}

// createOpts describe a new session for the user's index.
type createOpts struct {
	userID  int64
	epoch   int64
	created time.Time
	// maxSessions, when positive, ends the user's oldest sessions beyond it.
	maxSessions int
	// evicted is filled in by CommitCtx: sessions ended by maxSessions.
	evicted int
}

type commitKey struct{}

func withCommit(ctx context.Context, o commitOpts) context.Context {
	return context.WithValue(ctx, commitKey{}, o)
}

// withCreate marks a commit as the first write of a new token, without an
// index entry; store tests use it.
func withCreate(ctx context.Context) context.Context {
	return withCommit(ctx, commitOpts{create: &createOpts{}})
}

type skipDeleteKey struct{}

// withoutDelete makes DeleteCtx a no-op. scs deletes the previous token's
// record whenever it renews a token; when Manager has ended that session
// itself (with its index entry), or the token was never stored (a discarded
// draw, see SignIn), there is nothing left to delete.
func withoutDelete(ctx context.Context) context.Context {
	return context.WithValue(ctx, skipDeleteKey{}, true)
}

// FindCtx returns the record stored under the (hashed) token.
func (s *Store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	id := sessionID(token)
	if id == "" {
		return nil, false, nil
	}
	b, err := redis.Bytes(s.do(ctx, "GET", recordKey(s.prefix, id)))
	if errors.Is(err, redis.ErrNil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// CommitCtx writes a record that expires at expiry (or earlier, at the idle
// deadline carried by ctx). An update of a record that no longer exists
// writes nothing and returns errGone; a create for a user whose credentials
// changed after this sign-in began returns ErrCredentialsChanged.
func (s *Store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	id := sessionID(token)
	if id == "" {
		return fmt.Errorf("session: commit: %q is not a hashed token", token)
	}
	o, _ := ctx.Value(commitKey{}).(commitOpts)
	if !o.idleExpiry.IsZero() && o.idleExpiry.Before(expiry) {
		expiry = o.idleExpiry
	}
	now := time.Now()
	if !expiry.After(now) {
		// Already expired: nothing to keep.
		if err := s.endExpired(ctx, o.userID, id); err != nil {
			return err
		}
		return errGone
	}
	switch {
	case o.create != nil && o.create.userID != 0:
		return s.create(ctx, id, b, expiry, o.create)
	case o.create != nil:
		reply, err := s.do(ctx, "SET", recordKey(s.prefix, id), b, "PXAT", expiry.UnixMilli(), "NX")
		if err == nil && reply == nil {
			err = errTokenInUse
		}
		return err
	case o.userID != 0:
		return s.refresh(ctx, o.userID, id, b, expiry)
	}
	reply, err := s.do(ctx, "SET", recordKey(s.prefix, id), b, "PXAT", expiry.UnixMilli(), "XX")
	if err != nil {
		return err
	}
	if reply == nil {
		return errGone
	}
	return nil
}

// DeleteCtx removes the record stored under the (hashed) token. Manager
// ends sessions with their index entry (Store.end) instead; this is what
// scs calls when it renews or destroys a token.
func (s *Store) DeleteCtx(ctx context.Context, token string) error {
	id := sessionID(token)
	if id == "" || ctx.Value(skipDeleteKey{}) != nil {
		return nil
	}
	_, err := s.do(ctx, "DEL", recordKey(s.prefix, id))
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
	c, err := s.conn(ctx, firstKey(args))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	reply, err := redispool.Do(ctx, c, cmd, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errStore, cmd, err)
	}
	return reply, nil
}

// conn takes a connection for key: in a Redis Cluster, to the node of that
// key's slot, which (keys.go) holds every key the call touches.
func (s *Store) conn(ctx context.Context, key string) (redis.Conn, error) {
	c, err := s.conns.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("%w: get connection: %w", errStore, err)
	}
	return c, nil
}

// firstKey is the key that a command's or a script's arguments begin
// with, as every call of the store's has them.
func firstKey(args []any) string {
	if len(args) == 0 {
		return ""
	}
	key, _ := args[0].(string)
	return key
}
