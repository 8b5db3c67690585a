package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/session"
)

// sessionUser is whom a minted session belongs to.
type sessionUser struct {
	ID   int64
	Name string
}

// signIn is the benchmark's only call of session.Manager.SignIn, so that a
// change of its signature is a one-line change here.
func signIn(m *session.Manager, w http.ResponseWriter, r *http.Request, u sessionUser) error {
	_, err := m.SignIn(w, r, session.Grant{UserID: u.ID, Name: u.Name})
	return err
}

// minter creates sessions in-process with the server's own session code
// (session.Manager over the same Redis, key prefix and clocks), because
// signing in over HTTP costs a bcrypt comparison each: 100,000 sessions
// would take hours.
type minter struct {
	mgr *session.Manager
	cfg session.Config
}

func newMinter(pool *redis.Pool, cfg session.Config) (*minter, error) {
	mgr, err := session.NewManager(redispool.Single(pool), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	return &minter{mgr: mgr, cfg: cfg}, nil
}

// mint signs u in, as the server's sign-in handler does, and returns the
// new session's token (the session_id cookie).
func (m *minter) mint(ctx context.Context, u sessionUser) (string, error) {
	var err error
	h := m.mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err = signIn(m.mgr, w, r, u)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, "/login", nil))
	if err != nil {
		return "", err
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.CookieName && c.Value != "" {
			return c.Value, nil
		}
	}
	return "", errors.New("sign-in set no session cookie")
}

// mintedUserBase is the first user id of minted sessions: far from the
// bench user's (1), whose hundreds of sign-ins in scenarios 3, 10, 11 and
// 12 would otherwise reach the per-user cap and end the minted session
// that scenario 2 and 12c present (as the cap should: it was that user's
// oldest session).
const mintedUserBase = 1_000_001

// mintMany creates n sessions with workers goroutines; session i belongs
// to user mintedUserBase + i%users. It returns the tokens when keep is set.
func (m *minter) mintMany(ctx context.Context, n, users, workers int, keep bool) ([]string, error) {
	var tokens []string
	if keep {
		tokens = make([]string, n)
	}
	err := parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		id := mintedUserBase + int64(i%users)
		tok, err := m.mint(ctx, sessionUser{ID: id, Name: fmt.Sprintf("user%06d", id)})
		if err != nil {
			return fmt.Errorf("mint session %d: %w", i, err)
		}
		if keep {
			tokens[i] = tok
		}
		return nil
	})
	return tokens, err
}

// seenKey is the session value holding the last refresh of the idle
// deadline, in unix milliseconds (see internal/session).
const seenKey = "seen"

// ageSessions makes freshly minted sessions look like sessions in steady
// use: their last refresh is spread evenly over the past interval, as if
// each had been written at some moment of the last SESSION_REFRESH_INTERVAL.
// Without it, no session minted a moment ago is due for a refresh during a
// run of a few seconds and the writes per request would read a flattering
// zero. Records are decoded and re-encoded with session.Codec (the one
// session.Manager uses) and written back with their expiry kept; a record
// that no longer has the value is an error, not a silent no-op.
func ageSessions(ctx context.Context, pool *redis.Pool, prefix string, tokens []string, interval time.Duration, workers int) error {
	now := time.Now()
	n := len(tokens)
	return parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		key := session.RecordKey(prefix, tokens[i])
		c, err := pool.GetContext(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		b, err := redis.Bytes(redis.DoContext(c, ctx, "GET", key))
		if err != nil {
			return fmt.Errorf("age session %d: GET: %w", i, err)
		}
		deadline, values, err := session.Codec{}.Decode(b)
		if err != nil {
			return fmt.Errorf("age session %d: decode: %w (internal/session changed its format: update ageSessions or run with -age-sessions=false)", i, err)
		}
		if _, ok := values[seenKey].(int64); !ok {
			return fmt.Errorf("age session %d: the record has no int64 %q value; internal/session changed its layout: update ageSessions or run with -age-sessions=false", i, seenKey)
		}
		// (i+0.5)/n of the interval ago: ages spread evenly over (0, interval).
		age := time.Duration((float64(i) + 0.5) / float64(n) * float64(interval))
		values[seenKey] = now.Add(-age).UnixMilli()
		if b, err = (session.Codec{}).Encode(deadline, values); err != nil {
			return fmt.Errorf("age session %d: encode: %w", i, err)
		}
		if _, err := redis.String(redis.DoContext(c, ctx, "SET", key, b, "KEEPTTL", "XX")); err != nil {
			return fmt.Errorf("age session %d: SET: %w", i, err)
		}
		return nil
	})
}

// parallel calls fn(i) for every i in [0, n) from workers goroutines and
// returns the first error, after which no new call starts.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}
