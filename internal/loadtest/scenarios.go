package loadtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/sessionauth/authd/internal/session"
	"golang.org/x/crypto/bcrypt"
)

func (b *bench) run(ctx context.Context, rep *Report) error {
	if b.opts.runs(2) || b.opts.runs(6) || b.opts.runs(7) || b.opts.runs(12) {
		if err := b.mintProtected(ctx); err != nil {
			return err
		}
	}
	if b.opts.runs(1) || b.opts.runs(2) {
		if err := b.pages(ctx, rep); err != nil {
			return err
		}
	}
	if b.opts.runs(8) {
		if err := b.verifyAlone(ctx, rep); err != nil {
			return fmt.Errorf("scenario 8: %w", err)
		}
	}
	if b.opts.runs(7) {
		if err := b.forwardAuth(ctx, rep); err != nil {
			return fmt.Errorf("scenario 7: %w", err)
		}
	}
	if b.opts.runs(3) {
		if err := b.signInRate(ctx, rep); err != nil {
			return fmt.Errorf("scenario 3: %w", err)
		}
	}
	if b.opts.runs(6) {
		if err := b.flood(ctx, rep); err != nil {
			return fmt.Errorf("scenario 6: %w", err)
		}
	}
	if b.opts.runs(5) {
		if err := b.memory(ctx, rep); err != nil {
			return fmt.Errorf("scenario 5: %w", err)
		}
	}
	if b.opts.runs(9) && b.opts.runs(5) {
		if err := b.peerMemory(ctx, rep); err != nil {
			return fmt.Errorf("scenario 9m: %w", err)
		}
	}
	if err := b.tokenScenarios(ctx, rep); err != nil {
		return err
	}
	return nil
}

// mintProtected creates the sessions of scenarios 2, 6 and 7, one user each.
func (b *bench) mintProtected(ctx context.Context) error {
	n := b.opts.Sessions
	b.progress("minting %d sessions in-process", n)
	var err error
	if b.tokens, err = b.minter.mintMany(ctx, n, n, b.opts.MintWorkers, true); err != nil {
		return err
	}
	if b.opts.AgeSessions {
		b.progress("spreading their last refresh over the past %s", b.minter.cfg.RefreshInterval)
		return ageSessions(ctx, b.pool, keyPrefix, b.tokens, b.minter.cfg.RefreshInterval, b.opts.MintWorkers)
	}
	return nil
}

// protectedCookie hands out the minted sessions round-robin across every
// request of the run, so that each window spreads over all of them.
func (b *bench) protectedCookie() func(uint64) string {
	var next atomic.Uint64
	return func(uint64) string { return b.tokens[(next.Add(1)-1)%uint64(len(b.tokens))] }
}

// pages runs scenarios 1, 2 and 4 as A-B-A: half of scenario 1's time
// before scenario 2 and half after, so that a background load that drifts
// during the run weighs on both alike. Scenario 2 runs in one piece: a gap
// in its traffic would let refreshes fall due with no request to absorb
// them, and scenario 4 would count the catch-up.
func (b *bench) pages(ctx context.Context, rep *Report) error {
	o := b.opts
	public := b.get(b.client, "/healthz", nil)
	protected := b.get(b.client, "/api/me", b.protectedCookie())
	runPublic := func(d time.Duration) error {
		if !o.runs(1) {
			return nil
		}
		b.progress("1: public page, %d clients, %s", o.Workers, d)
		m, err := b.measure(func() (Result, error) { return Closed(ctx, o.Workers, d, public) })
		if err != nil {
			return fmt.Errorf("scenario 1: %w", err)
		}
		accumulate(&rep.Public, m)
		return nil
	}

	if o.runs(1) && o.Warmup > 0 {
		b.progress("1: warming up")
		if _, err := Closed(ctx, o.Workers, o.Warmup, public); err != nil {
			return fmt.Errorf("scenario 1: warm-up: %w", err)
		}
	}
	if err := runPublic(o.Duration / 2); err != nil {
		return err
	}
	var pb *bench
	var peerOp Op
	if o.runs(9) {
		var err error
		if pb, peerOp, err = b.peerSetup(ctx); err != nil {
			return fmt.Errorf("scenario 9: %w", err)
		}
		if err := b.peerWindow(ctx, pb, peerOp, o.Duration/2, rep); err != nil {
			return fmt.Errorf("scenario 9: %w", err)
		}
	}
	if o.runs(2) {
		// The warm-up starts with one request for every session, which
		// checks that each is signed in and writes those whose refresh fell
		// due since they were aged, with no traffic to absorb it; the
		// measured window, right after, sees only the refreshes that steady
		// use brings.
		b.progress("2: warming up: one request per session, then %s", o.Warmup)
		err := parallel(ctx, len(b.tokens), o.Workers, func(ctx context.Context, i int) error {
			return protected(ctx, 0, uint64(i))
		})
		if err != nil {
			return fmt.Errorf("scenario 2: first pass over the sessions: %w", err)
		}
		if o.Warmup > 0 {
			if _, err := Closed(ctx, o.Workers, o.Warmup, protected); err != nil {
				return fmt.Errorf("scenario 2: warm-up: %w", err)
			}
		}
		b.progress("2: protected page over %d sessions, %d clients, %s", len(b.tokens), o.Workers, o.Duration)
		// Closed waits for every request it sent, so the commandstats delta
		// covers exactly the measured requests.
		before, err := commandStats(ctx, b.pool)
		if err != nil {
			return err
		}
		if rep.Protected, err = b.measure(func() (Result, error) { return Closed(ctx, o.Workers, o.Duration, protected) }); err != nil {
			return fmt.Errorf("scenario 2: %w", err)
		}
		after, err := commandStats(ctx, b.pool)
		if err != nil {
			return err
		}
		per := after.Sub(before).Per(rep.Protected.Count)
		rep.Commands = &per
	}
	if o.runs(9) {
		if err := b.peerWindow(ctx, pb, peerOp, o.Duration-o.Duration/2, rep); err != nil {
			return fmt.Errorf("scenario 9: %w", err)
		}
	}
	return runPublic(o.Duration - o.Duration/2)
}

// signInRate runs scenario 3: sign-ins over HTTP, in rounds alternating
// with raw bcrypt comparisons in this process while the server idles.
func (b *bench) signInRate(ctx context.Context, rep *Report) error {
	op := b.signIn(b.client, func() string { return benchUser }, func() string { return benchPassword }, http.StatusSeeOther)
	return b.againstBcrypt(ctx, "3", "sign-in over HTTP", op, &rep.Bcrypt, &rep.SignIn)
}

// againstBcrypt measures op (which checks benchPassword on the server) in
// rounds alternating with raw bcrypt comparisons at the same cost in this
// process while the server idles, into bcryptM and opM; scenario names the
// rows in the progress lines.
func (b *bench) againstBcrypt(ctx context.Context, scenario, what string, op Op, bcryptM, opM **Measured) error {
	o := b.opts
	procs := runtime.GOMAXPROCS(0)
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), o.Cost)
	if err != nil {
		return err
	}
	raw := func(context.Context, int, uint64) error {
		return bcrypt.CompareHashAndPassword(hash, []byte(benchPassword))
	}
	if err := op(ctx, 0, 0); err != nil { // once first: it must work
		return err
	}
	for round := range o.Rounds {
		if err := b.quiesce(ctx); err != nil {
			return err
		}
		b.progress("%s: raw bcrypt.CompareHashAndPassword at cost %d, %d goroutines, round %d of %d", scenario, o.Cost, procs, round+1, o.Rounds)
		m, err := b.measure(func() (Result, error) { return Closed(ctx, procs, b.window(), raw) })
		if err != nil {
			return err
		}
		accumulate(bcryptM, m)
		b.progress("%s: %s, %d clients, round %d of %d", scenario, what, o.SignInWorkers, round+1, o.Rounds)
		if m, err = b.measure(func() (Result, error) { return Closed(ctx, o.SignInWorkers, b.window(), op) }); err != nil {
			return err
		}
		accumulate(opM, m)
	}
	return nil
}

// flood runs scenario 6: open-loop protected-page requests, calm and while
// wrong-password sign-ins for random names flood the server, in
// alternating rounds.
func (b *bench) flood(ctx context.Context, rep *Report) error {
	o := b.opts
	probe := b.get(b.client, "/api/me", b.protectedCookie())
	run := func() (Result, error) { return Open(ctx, o.ProbeRate, b.window(), 4*o.Workers, probe) }
	var attempts int64
	for round := range o.Rounds {
		if err := b.quiesce(ctx); err != nil {
			return err
		}
		b.progress("6: protected page at %s req/s, calm, round %d of %d", num(o.ProbeRate), round+1, o.Rounds)
		m, err := b.measure(run)
		if err != nil {
			return fmt.Errorf("calm: %w", err)
		}
		accumulate(&rep.Calm, m)
		b.progress("6: the same under a flood of %d wrong-password sign-ins, round %d of %d", o.FloodWorkers, round+1, o.Rounds)
		m, n, err := b.flooded(ctx, run)
		if err != nil {
			return err
		}
		accumulate(&rep.Flood, m)
		attempts += n
	}
	rep.FloodRate = float64(attempts) / rep.Flood.Elapsed.Seconds()
	return nil
}

// flooded measures run while FloodWorkers clients sign in with random
// names and passwords, and returns how many of those were answered (401)
// during the measurement.
func (b *bench) flooded(ctx context.Context, run func() (Result, error)) (*Measured, int64, error) {
	floodCtx, stopFlood := context.WithCancel(ctx)
	defer stopFlood()
	var (
		answered atomic.Int64
		floodErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	// Its own client: the flood's connections must not crowd the probe's.
	client := newClient(b.opts.FloodWorkers)
	defer client.CloseIdleConnections()
	op := b.signIn(client, randomName, randomName, http.StatusUnauthorized)
	for range b.opts.FloodWorkers {
		wg.Go(func() {
			for floodCtx.Err() == nil {
				err := op(floodCtx, 0, 0)
				switch {
				case floodCtx.Err() != nil:
					return // cancelled at the end: not an answer
				case err != nil:
					once.Do(func() { floodErr = err })
					stopFlood()
					return
				}
				answered.Add(1)
			}
		})
	}
	// Let the flood fill authd's bcrypt queue before measuring.
	select {
	case <-time.After(max(b.opts.Warmup, time.Second)):
	case <-floodCtx.Done():
	}
	n0 := answered.Load()
	m, err := b.measure(func() (Result, error) {
		if err := floodCtx.Err(); err != nil {
			return Result{}, err
		}
		return run()
	})
	n := answered.Load() - n0
	stopFlood()
	wg.Wait()
	if floodErr != nil {
		return nil, 0, fmt.Errorf("flood: %w", floodErr)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("under the flood: %w", err)
	}
	return m, n, nil
}

// randomName is a fresh 16-character name (or password): every flood
// request names a different, unknown user.
func randomName() string { return rand.Text()[:16] }

// memory runs scenario 5: used_memory before and after minting sessions.
func (b *bench) memory(ctx context.Context, rep *Report) error {
	o := b.opts
	// Open the minting connections first: each client costs Redis memory
	// of its own, which is not a session's.
	if _, err := b.minter.mintMany(ctx, o.MintWorkers, 1, o.MintWorkers, false); err != nil {
		return err
	}
	before, err := stableMemory(ctx, b.pool)
	if err != nil {
		return err
	}
	b.progress("5: minting %d sessions of %d users", o.MemSessions, o.MemUsers)
	start := time.Now()
	tokens, err := b.minter.mintMany(ctx, o.MemSessions, o.MemUsers, o.MintWorkers, true)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	after, err := stableMemory(ctx, b.pool)
	if err != nil {
		return err
	}
	m := &MemoryResult{Sessions: o.MemSessions, Users: o.MemUsers, Before: before, After: after, MintRate: float64(o.MemSessions) / elapsed.Seconds()}
	// One record's own size, for reading the figure: its value, and what
	// MEMORY USAGE estimates for key, value and their dict entry.
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	key := session.RecordKey(keyPrefix, tokens[len(tokens)-1])
	if m.ValueBytes, err = redis.Int64(redis.DoContext(c, ctx, "STRLEN", key)); err != nil {
		return fmt.Errorf("STRLEN: %w", err)
	}
	m.KeyBytes = int64(len(key))
	if m.UsageBytes, err = redis.Int64(redis.DoContext(c, ctx, "MEMORY", "USAGE", key, "SAMPLES", "0")); err != nil {
		return fmt.Errorf("MEMORY USAGE: %w", err)
	}
	rep.Memory = m
	return nil
}

// stableMemory returns used_memory once two readings 200 ms apart agree to
// within 1 KiB (an incremental rehash of Redis's key table, which briefly
// holds two tables, has finished), or the last reading after 5 s.
func stableMemory(ctx context.Context, pool *redis.Pool) (int64, error) {
	prev, err := usedMemory(ctx, pool)
	if err != nil {
		return 0, err
	}
	for range 25 {
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		cur, err := usedMemory(ctx, pool)
		if err != nil {
			return 0, err
		}
		if d := cur - prev; d < 1024 && d > -1024 {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

func redisVersion(ctx context.Context, pool *redis.Pool) (string, error) {
	s, err := info(ctx, pool, "server")
	if err != nil {
		return "", err
	}
	v, ok := ParseInfo(s)["redis_version"]
	if !ok {
		return "", errors.New("INFO server has no redis_version")
	}
	return v, nil
}
