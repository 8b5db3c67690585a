package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Router sends each command to the primary that owns its key's slot, with
// one bounded redigo pool per primary. Its connections (Get) follow MOVED
// (the slot remapped at once, the whole map refreshed, the command retried
// on the named node), ASK (ASKING and the command on the named node, once,
// the map unchanged) and TRYAGAIN (a short backoff, then again), and
// nothing more: no reads from replicas, no pipelines across nodes.
type Router struct {
	seeds   []string
	newPool func(addr string) (*redis.Pool, error)

	mu     sync.RWMutex
	slots  [Slots]string // primary address per slot; "" when unknown
	pools  map[string]*redis.Pool
	absent map[string]time.Time // pools whose node left the map, since when
	closed bool

	// refreshMu lets one caller at a time ask for the map. Callers that
	// need the map (a slot without a primary) wait for it; callers that
	// only report a problem (MOVED, a dead node) go on if one is under way.
	refreshMu sync.Mutex
	// refreshedAt is when the last refresh ended (unix ns), read without
	// the lock so that no request waits behind a refresh to learn it.
	refreshedAt atomic.Int64
}

// Redirections and retries one command may take before its error is
// returned: a slot can move while a MOVED is followed, but not forever.
const (
	maxRedirects = 5
	tryAgainWait = 20 * time.Millisecond
	// maxTryAgain bounds the waits for a migrating slot (0.5 s in all):
	// after that the caller answers 503 and the client retries.
	maxTryAgain = 25
	// refreshTimeout bounds one refresh, whoever's request started it.
	refreshTimeout = 5 * time.Second
	// poolLinger is how long the pool of a node that left the map stays
	// open: an empty node receiving slots in a resharding is in no map
	// yet, but ASK sends requests there.
	poolLinger = time.Minute
	// minRefresh spaces refreshes caused by connection errors: a dead
	// primary fails every request until its replica is promoted, and each
	// need not ask every node for the map again.
	minRefresh = 100 * time.Millisecond
)

// New returns a Router that learns the slot map from seeds (host:port of
// any nodes) and opens pools with newPool. Like a single pool it does not
// need the cluster to be up: it asks the seeds now, and again on first use
// if they did not answer.
func New(ctx context.Context, seeds []string, newPool func(addr string) (*redis.Pool, error)) (*Router, error) {
	if len(seeds) == 0 {
		return nil, errors.New("rediscluster: no seed nodes")
	}
	for _, s := range seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("rediscluster: seed %q: want host:port", s)
		}
	}
	r := &Router{seeds: seeds, newPool: newPool, pools: map[string]*redis.Pool{}, absent: map[string]time.Time{}}
	_ = r.refresh(ctx, time.Time{}, true) // a cluster that is down now is asked again on use
	return r, nil
}

// Close closes every node's pool.
func (r *Router) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	var errs []error
	for _, p := range r.pools {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// Refresh reloads the slot map now.
func (r *Router) Refresh(ctx context.Context) error { return r.refresh(ctx, time.Now(), true) }

// refresh reloads the slot map from the known primaries (in random order,
// so that a dead one is not always asked first), then the seeds, with
// CLUSTER SLOTS (the first node that answers wins), unless another caller
// has done so since seen. Without wait it returns at once when a refresh
// is under way. It runs on its own deadline: one client going away must
// not fail the refresh that every request is waiting for.
func (r *Router) refresh(ctx context.Context, seen time.Time, wait bool) error {
	if wait {
		r.refreshMu.Lock()
	} else if !r.refreshMu.TryLock() {
		return nil
	}
	defer r.refreshMu.Unlock()
	if !seen.IsZero() && r.lastRefresh().After(seen) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	defer func() { r.refreshedAt.Store(time.Now().UnixNano()) }() // a failure too: do not hammer a cluster that is down
	var errs []error
	for _, addr := range r.candidates() {
		reply, err := r.doOn(ctx, addr, "CLUSTER", "SLOTS")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m, err := parseSlots(reply, addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		r.setSlots(m)
		return nil
	}
	return fmt.Errorf("rediscluster: no node gave the slot map: %w", errors.Join(errs...))
}

// setSlots installs a new map and closes the pools of nodes that have
// been out of it (and no seed) for poolLinger: a failed-over primary's
// connections must not stay open for ever, nor count in Stats.
func (r *Router) setSlots(m [Slots]string) {
	keep := map[string]bool{}
	for _, a := range m {
		keep[a] = true
	}
	for _, a := range r.seeds {
		keep[a] = true
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.slots = m
	for a, p := range r.pools {
		switch since, ok := r.absent[a]; {
		case keep[a]:
			delete(r.absent, a)
		case !ok:
			r.absent[a] = now
		case now.Sub(since) >= poolLinger:
			p.Close()
			delete(r.pools, a)
			delete(r.absent, a)
		}
	}
}

// candidates are the nodes to ask for the map: the primaries it names now
// (each once, shuffled), then the seeds.
func (r *Router) candidates() []string {
	primaries := r.primaries()
	rand.Shuffle(len(primaries), func(i, j int) { primaries[i], primaries[j] = primaries[j], primaries[i] })
	seen := map[string]bool{}
	var out []string
	for _, a := range append(primaries, r.seeds...) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// parseSlots reads CLUSTER SLOTS: ranges of [start, end, [ip, port, …],
// replicas…], as answered by the node at from. An empty host means that
// node's own host (cluster-preferred-endpoint-type); a range whose
// endpoint is unknown ("?") is left without a primary, so that its slots
// fail (503) instead of going to a wrong address.
func parseSlots(reply any, from string) ([Slots]string, error) {
	var m [Slots]string
	ranges, err := redis.Values(reply, nil)
	if err != nil {
		return m, err
	}
	for _, rg := range ranges {
		f, err := redis.Values(rg, nil)
		if err != nil || len(f) < 3 {
			return m, fmt.Errorf("CLUSTER SLOTS: bad range %v", rg)
		}
		start, err1 := redis.Int(f[0], nil)
		end, err2 := redis.Int(f[1], nil)
		node, err3 := redis.Values(f[2], nil)
		if err1 != nil || err2 != nil || err3 != nil || len(node) < 2 || start < 0 || end >= Slots || start > end {
			return m, fmt.Errorf("CLUSTER SLOTS: bad range %v", rg)
		}
		host, _ := redis.String(node[0], nil)
		port, _ := redis.Int(node[1], nil)
		if host == "?" || port <= 0 {
			continue
		}
		addr := withHost(net.JoinHostPort(host, strconv.Itoa(port)), from)
		for s := start; s <= end; s++ {
			m[s] = addr
		}
	}
	return m, nil
}

// withHost fills in an empty host of addr (":6380") from the node at from.
func withHost(addr, from string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	fromHost, _, _ := net.SplitHostPort(from)
	return net.JoinHostPort(fromHost, port)
}

// owner is the primary the map names for slot, asking for the map first
// when it names none.
func (r *Router) owner(ctx context.Context, slot int) (string, error) {
	r.mu.RLock()
	addr := r.slots[slot]
	r.mu.RUnlock()
	if addr != "" {
		return addr, nil
	}
	if err := r.refresh(ctx, time.Now().Add(-minRefresh), true); err != nil {
		return "", err
	}
	r.mu.RLock()
	addr = r.slots[slot]
	r.mu.RUnlock()
	if addr == "" {
		return "", fmt.Errorf("rediscluster: slot %d has no primary", slot)
	}
	return addr, nil
}

// Get returns a connection to the primary of key's slot, which follows
// redirections (see conn.run). Keyless commands sent after a keyed one
// (WAIT, INFO) reach the node that served it.
func (r *Router) Get(ctx context.Context, key string) (redis.Conn, error) {
	addr, err := r.owner(ctx, Slot(key))
	if err != nil {
		return nil, err
	}
	c, err := r.dial(ctx, addr)
	if err != nil {
		r.connFailed(ctx)
		return nil, err
	}
	return &conn{r: r, ctx: ctx, addr: addr, c: c}, nil
}

// Do runs cmd for key on the primary of key's slot.
func (r *Router) Do(ctx context.Context, key, cmd string, args ...any) (any, error) {
	c, err := r.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Do(cmd, args...)
}

// Ping pings every primary of the map and fails only when none answers
// (so a Source's "every node answers" is, for a cluster, "some node").
// With one primary down its users get 503 until its replica is promoted,
// and everyone else is served: every authd instance is in the same state,
// so reporting "not ready" (/readyz) would make a load balancer take all
// of them away for the sake of some users.
func (r *Router) Ping(ctx context.Context) error {
	if _, err := r.owner(ctx, 0); err != nil {
		return err
	}
	var errs []error
	primaries := r.primaries()
	for _, addr := range primaries {
		if _, err := r.doOn(ctx, addr, "PING"); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		r.connFailed(ctx)
	}
	if len(errs) == len(primaries) {
		return errors.Join(errs...)
	}
	return nil
}

// primaries lists each primary of the map once.
func (r *Router) primaries() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := map[string]bool{}
	var out []string
	for _, a := range r.slots {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// Stats sums the statistics of every node's pool.
func (r *Router) Stats() redis.PoolStats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var s redis.PoolStats
	for _, p := range r.pools {
		ps := p.Stats()
		s.ActiveCount += ps.ActiveCount
		s.IdleCount += ps.IdleCount
		s.WaitCount += ps.WaitCount
		s.WaitDuration += ps.WaitDuration
	}
	return s
}

// MaxActive is the most connections the pools open at once, summed.
func (r *Router) MaxActive() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, p := range r.pools {
		n += p.MaxActive
	}
	return n
}

// moved records what a MOVED said (slot now at addr) and refreshes the
// whole map: a resharding or a failover moves many slots at once.
func (r *Router) moved(ctx context.Context, slot int, addr string, seen time.Time) {
	r.mu.Lock()
	r.slots[slot] = addr
	r.mu.Unlock()
	if time.Since(r.lastRefresh()) >= minRefresh {
		go r.refresh(context.WithoutCancel(ctx), seen, false) // the slot itself is already right
	}
}

// connFailed refreshes the map after a node did not answer, at most every
// minRefresh: after a failover the map names the promoted replica.
func (r *Router) connFailed(ctx context.Context) {
	if time.Since(r.lastRefresh()) >= minRefresh {
		go r.refresh(context.WithoutCancel(ctx), time.Now().Add(-minRefresh), false)
	}
}

func (r *Router) lastRefresh() time.Time { return time.Unix(0, r.refreshedAt.Load()) }

// redirection is a parsed MOVED, ASK or TRYAGAIN error.
type redirection struct {
	kind string // "MOVED", "ASK", "TRYAGAIN", or "" for anything else
	slot int
	addr string
}

func redirect(err error) redirection {
	var re redis.Error
	if !errors.As(err, &re) {
		return redirection{}
	}
	f := strings.Fields(string(re))
	switch {
	case len(f) == 3 && (f[0] == "MOVED" || f[0] == "ASK"):
		slot, err := strconv.Atoi(f[1])
		if err != nil || slot < 0 || slot >= Slots {
			return redirection{}
		}
		return redirection{kind: f[0], slot: slot, addr: f[2]}
	case len(f) > 0 && f[0] == "TRYAGAIN":
		return redirection{kind: "TRYAGAIN"}
	}
	return redirection{}
}

// doOn runs one command on the node at addr.
func (r *Router) doOn(ctx context.Context, addr string, cmd string, args ...any) (any, error) {
	c, err := r.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return redis.DoContext(c, ctx, cmd, args...)
}

// dial takes a connection from the pool of the node at addr.
func (r *Router) dial(ctx context.Context, addr string) (redis.Conn, error) {
	p, err := r.pool(addr)
	if err != nil {
		return nil, err
	}
	c, err := p.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("rediscluster: %s: %w", addr, err)
	}
	return c, nil
}

func (r *Router) pool(addr string) (*redis.Pool, error) {
	r.mu.RLock()
	p, ok := r.pools[addr]
	r.mu.RUnlock()
	if ok {
		return p, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.pools[addr]; ok {
		return p, nil
	}
	if r.closed {
		return nil, errors.New("rediscluster: router closed")
	}
	p, err := r.newPool(addr)
	if err != nil {
		return nil, fmt.Errorf("rediscluster: node %q: %w", addr, err)
	}
	r.pools[addr] = p
	return p, nil
}
