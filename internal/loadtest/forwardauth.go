package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// Target of scenario 7, from issue 9.
const targetNginxRatio = 0.5 // (7p)/(7u) requests per second, at least

// getHost returns an op that GETs rawURL with Host: benchHost, the session
// cookie of cookie(seq) when cookie is not nil, and header pairs, and
// expects status 200.
func getHost(client *http.Client, rawURL string, cookie func(uint64) string, header ...string) Op {
	return func(ctx context.Context, _ int, seq uint64) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return err
		}
		req.Host = benchHost
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if cookie != nil {
			req.Header.Set("Cookie", "session_id="+cookie(seq))
		}
		return do(client, req, http.StatusOK)
	}
}

// forwardAuth runs scenario 7: the same app through the same nginx,
// without authentication (7u) and behind auth_request (7p), with the Redis
// commands per protected request (7c). As scenarios 1 and 2, it runs A-B-A:
// half of 7u before 7p and half after, so that a drifting background load
// weighs on both alike; 7p runs in one piece, since a gap in its traffic
// would let refreshes fall due with no request to absorb them, and 7c
// would count the catch-up.
func (b *bench) forwardAuth(ctx context.Context, rep *Report) error {
	o := b.opts
	client := newClient(o.Workers)
	defer client.CloseIdleConnections()
	plain := getHost(client, b.nginx.Plain+"/", nil)
	protected := getHost(client, b.nginx.Protected+"/", b.protectedCookie())
	runPlain := func(d time.Duration) error {
		b.progress("7: app through nginx, no authentication, %d clients, %s", o.Workers, d)
		m, err := b.measure(func() (Result, error) { return Closed(ctx, o.Workers, d, plain) })
		if err != nil {
			return err
		}
		accumulate(&rep.NginxPlain, m)
		return nil
	}

	if o.Warmup > 0 {
		b.progress("7: warming up without authentication")
		if _, err := Closed(ctx, o.Workers, o.Warmup, plain); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	if err := runPlain(o.Duration / 2); err != nil {
		return err
	}
	// One request per session first: it checks that each passes, and
	// writes the sessions whose refresh fell due (as in scenario 2).
	b.progress("7: warming up: one protected request per session, then %s", o.Warmup)
	err := parallel(ctx, len(b.tokens), o.Workers, func(ctx context.Context, i int) error {
		return protected(ctx, 0, uint64(i))
	})
	if err != nil {
		return fmt.Errorf("first pass over the sessions: %w", err)
	}
	if o.Warmup > 0 {
		if _, err := Closed(ctx, o.Workers, o.Warmup, protected); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	b.progress("7: the same behind auth_request over %d sessions, %d clients, %s", len(b.tokens), o.Workers, o.Duration)
	before, err := commandStats(ctx, b.pool)
	if err != nil {
		return err
	}
	if rep.NginxProtected, err = b.measure(func() (Result, error) { return Closed(ctx, o.Workers, o.Duration, protected) }); err != nil {
		return err
	}
	after, err := commandStats(ctx, b.pool)
	if err != nil {
		return err
	}
	per := after.Sub(before).Per(rep.NginxProtected.Count)
	rep.NginxCommands = &per
	return runPlain(o.Duration - o.Duration/2)
}

// verifyAlone runs scenario 8: authd's nginx endpoint asked directly, as
// nginx would, with the Redis commands per verify. Its sessions are minted
// just before, so none is due for a refresh during the run: it measures
// that a verify within the refresh interval reads once and writes nothing.
func (b *bench) verifyAlone(ctx context.Context, rep *Report) error {
	o := b.opts
	b.progress("8: minting %d fresh sessions in-process", o.Sessions)
	fresh, err := b.minter.mintMany(ctx, o.Sessions, o.Sessions, o.MintWorkers, true)
	if err != nil {
		return err
	}
	var next atomic.Uint64
	cookie := func(uint64) string { return fresh[(next.Add(1)-1)%uint64(len(fresh))] }
	op := getHost(b.client, b.base+"/auth/request", cookie,
		"X-Original-URL", "http://"+benchHost+"/", "X-Original-Method", "GET")
	if o.Warmup > 0 {
		b.progress("8: warming up for %s", o.Warmup)
		if _, err := Closed(ctx, o.Workers, o.Warmup, op); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	if err := b.quiesce(ctx); err != nil {
		return err
	}
	b.progress("8: verify endpoint alone, GET /auth/request over %d fresh sessions, %d clients, %s", len(fresh), o.Workers, o.Duration)
	start := time.Now()
	before, err := commandStats(ctx, b.pool)
	if err != nil {
		return err
	}
	if rep.Verify, err = b.measure(func() (Result, error) { return Closed(ctx, o.Workers, o.Duration, op) }); err != nil {
		return err
	}
	after, err := commandStats(ctx, b.pool)
	if err != nil {
		return err
	}
	if since := time.Since(start); since >= b.minter.cfg.RefreshInterval {
		return fmt.Errorf("the run took %s, longer than the refresh interval: its sessions were due", since)
	}
	per := after.Sub(before).Per(rep.Verify.Count)
	rep.VerifyCommands = &per
	return nil
}
