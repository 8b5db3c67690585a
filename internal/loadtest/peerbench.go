package loadtest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/sessionauth/authd/internal/loadtest/peer"
)

// peerSide is scenario 9's server: the stock chi + scs + scs/redisstore
// stack (cmd/authbench/peer) on the same private Redis as authd.
type peerSide struct {
	srv    *authd
	sm     *scs.SessionManager // the peer's own manager, for minting in-process
	tokens []string
}

// startPeer builds and starts cmd/authbench/peer against rds with authd's
// pool settings and bcrypt cost.
func startPeer(ctx context.Context, o Options, rdsURL string, maxActive, maxIdle int, dir string, b *bench) (*peerSide, error) {
	bin := o.Peer
	if bin == "" {
		b.progress("building ./cmd/authbench/peer")
		var err error
		if bin, err = goBuild(ctx, dir, "./cmd/authbench/peer", b.stderr); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, "-redis", rdsURL, "-cost", strconv.Itoa(o.Cost),
		"-redis-max-active", strconv.Itoa(maxActive), "-redis-max-idle", strconv.Itoa(maxIdle),
		"-user", benchUser, "-password", benchPassword)
	srv, err := startServer(ctx, "peer", cmd, authdEnv(nil), dir)
	if err != nil {
		return nil, err
	}
	return &peerSide{srv: srv, sm: peer.Manager(b.pool)}, nil
}

// mintPeer creates n peer sessions, one user each, with the peer's own
// scs manager; keep returns their tokens.
func (b *bench) mintPeer(ctx context.Context, n int, keep bool) ([]string, error) {
	var tokens []string
	if keep {
		tokens = make([]string, n)
	}
	err := parallel(ctx, n, b.opts.MintWorkers, func(ctx context.Context, i int) error {
		id := int64(i) + 1
		tok, err := peer.Mint(ctx, b.peer.sm, id, fmt.Sprintf("user%06d", id))
		if err != nil {
			return err
		}
		if keep {
			tokens[i] = tok
		}
		return nil
	})
	return tokens, err
}

// peerSetup mints the peer's sessions (as many as scenario 2's) and warms
// it up: one request per session, then the warm-up time. It returns the
// op that requests the peer's protected page and a bench aimed at the peer.
func (b *bench) peerSetup(ctx context.Context) (*bench, Op, error) {
	o := b.opts
	b.progress("9: minting %d peer sessions in-process", o.Sessions)
	var err error
	if b.peer.tokens, err = b.mintPeer(ctx, o.Sessions, true); err != nil {
		return nil, nil, err
	}
	pb := *b
	pb.base = b.peer.srv.URL
	pb.procs.Authd = b.peer.srv.pid() // the "authd" column is the server under test
	pb.tokens = b.peer.tokens
	protected := pb.get(b.client, "/api/me", pb.protectedCookie())
	b.progress("9: peer warming up: one request per session, then %s", o.Warmup)
	if err := parallel(ctx, len(pb.tokens), o.Workers, func(ctx context.Context, i int) error {
		return protected(ctx, 0, uint64(i))
	}); err != nil {
		return nil, nil, fmt.Errorf("first pass over the peer's sessions: %w", err)
	}
	if o.Warmup > 0 {
		if _, err := Closed(ctx, o.Workers, o.Warmup, protected); err != nil {
			return nil, nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	return &pb, protected, nil
}

// peerWindow measures the peer's protected page for d, with the same
// clients as scenario 2, and adds the window and its commandstats delta to
// rep. Scenario 9 runs as two such halves, one before scenario 2 and one
// after, so that a background load drifting during the run weighs on
// authd and the peer alike.
func (b *bench) peerWindow(ctx context.Context, pb *bench, protected Op, d time.Duration, rep *Report) error {
	o := b.opts
	b.progress("9: peer protected page over %d sessions, %d clients, %s", len(pb.tokens), o.Workers, d)
	before, err := commandStats(ctx, b.pool)
	if err != nil {
		return err
	}
	m, err := pb.measure(func() (Result, error) { return Closed(ctx, o.Workers, d, protected) })
	if err != nil {
		return err
	}
	after, err := commandStats(ctx, b.pool)
	if err != nil {
		return err
	}
	accumulate(&rep.Peer, m)
	if b.peerCalls == nil {
		b.peerCalls = CommandCalls{}
	}
	for k, v := range after.Sub(before) {
		b.peerCalls[k] += v
	}
	per := b.peerCalls.Per(rep.Peer.Count)
	rep.PeerCommands = &per
	return nil
}

// peerMemory runs scenario 9m: used_memory before and after minting
// MemSessions peer sessions, one user each.
func (b *bench) peerMemory(ctx context.Context, rep *Report) error {
	o := b.opts
	before, err := stableMemory(ctx, b.pool)
	if err != nil {
		return err
	}
	b.progress("9m: minting %d peer sessions", o.MemSessions)
	start := time.Now()
	if _, err := b.mintPeer(ctx, o.MemSessions, false); err != nil {
		return err
	}
	elapsed := time.Since(start)
	after, err := stableMemory(ctx, b.pool)
	if err != nil {
		return err
	}
	rep.PeerMemory = &MemoryResult{Sessions: o.MemSessions, Users: o.MemSessions, Before: before, After: after, MintRate: float64(o.MemSessions) / elapsed.Seconds()}
	return nil
}
