package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
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
	newPool func(addr string) *redis.Pool

	mu    sync.RWMutex
	slots [Slots]string // primary address per slot; "" when unknown
	pools map[string]*redis.Pool

	// refreshMu lets one caller at a time ask for the map; the others wait
	// and use what it learned (refreshedAt after they saw the problem).
	refreshMu   sync.Mutex
	refreshedAt time.Time
}

// Redirections and retries one command may take before its error is
// returned: a slot can move while a MOVED is followed, but not forever.
const (
	maxRedirects = 5
	tryAgainWait = 20 * time.Millisecond
	// minRefresh spaces refreshes caused by connection errors: a dead
	// primary fails every request until its replica is promoted, and each
	// need not ask every node for the map again.
	minRefresh = 100 * time.Millisecond
)

// New returns a Router that learns the slot map from seeds (host:port of
// any nodes) and opens pools with newPool. Like a single pool it does not
// need the cluster to be up: it asks the seeds now, and again on first use
// if they did not answer.
func New(ctx context.Context, seeds []string, newPool func(addr string) *redis.Pool) (*Router, error) {
	if len(seeds) == 0 {
		return nil, errors.New("rediscluster: no seed nodes")
	}
	for _, s := range seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("rediscluster: seed %q: want host:port", s)
		}
	}
	r := &Router{seeds: seeds, newPool: newPool, pools: map[string]*redis.Pool{}}
	_ = r.refresh(ctx, time.Time{}) // a cluster that is down now is asked again on use
	return r, nil
}

// Close closes every node's pool.
func (r *Router) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, p := range r.pools {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// Refresh reloads the slot map now.
func (r *Router) Refresh(ctx context.Context) error { return r.refresh(ctx, time.Now()) }

// refresh reloads the slot map from the known primaries, then the seeds,
// with CLUSTER SLOTS (the first node that answers wins), unless another
// caller has done so since seen.
func (r *Router) refresh(ctx context.Context, seen time.Time) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	if !seen.IsZero() && r.refreshedAt.After(seen) {
		return nil
	}
	var errs []error
	for _, addr := range r.candidates() {
		reply, err := r.doOn(ctx, addr, false, "CLUSTER", "SLOTS")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m, err := parseSlots(reply)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		r.mu.Lock()
		r.slots = m
		r.mu.Unlock()
		r.refreshedAt = time.Now()
		return nil
	}
	r.refreshedAt = time.Now() // failed too: do not hammer a cluster that is down
	return fmt.Errorf("rediscluster: no node gave the slot map: %w", errors.Join(errs...))
}

// candidates are the nodes to ask for the map: the primaries it names now
// (each once), then the seeds.
func (r *Router) candidates() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := map[string]bool{}
	var out []string
	for _, a := range append(r.slots[:], r.seeds...) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// parseSlots reads CLUSTER SLOTS: ranges of [start, end, [ip, port, …], replicas…].
func parseSlots(reply any) ([Slots]string, error) {
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
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		for s := start; s <= end; s++ {
			m[s] = addr
		}
	}
	return m, nil
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
	if err := r.refresh(ctx, time.Now().Add(-minRefresh)); err != nil {
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
// redirections (see Router). Commands for other keys of the same slot may
// be sent on it, and so may commands without keys (WAIT, INFO): they reach
// the same node as the last command.
func (r *Router) Get(ctx context.Context, key string) (redis.Conn, error) {
	addr, err := r.owner(ctx, Slot(key))
	if err != nil {
		return nil, err
	}
	c, err := r.pool(addr).GetContext(ctx)
	if err != nil {
		r.connFailed(ctx)
		return nil, fmt.Errorf("rediscluster: %s: %w", addr, err)
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

// Ping pings every primary of the map and fails only when none answers.
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
		if _, err := r.doOn(ctx, addr, false, "PING"); err != nil {
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
		_ = r.refresh(ctx, seen) // the slot itself is already right
	}
}

// connFailed refreshes the map after a node did not answer, at most every
// minRefresh: after a failover the map names the promoted replica.
func (r *Router) connFailed(ctx context.Context) {
	if time.Since(r.lastRefresh()) >= minRefresh {
		_ = r.refresh(ctx, time.Now().Add(-minRefresh))
	}
}

func (r *Router) lastRefresh() time.Time {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	return r.refreshedAt
}

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

// doOn runs one command on the node at addr, after ASKING when asking.
func (r *Router) doOn(ctx context.Context, addr string, asking bool, cmd string, args ...any) (any, error) {
	c, err := r.pool(addr).GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("rediscluster: %s: %w", addr, err)
	}
	defer c.Close()
	if asking {
		if _, err := c.Do("ASKING"); err != nil {
			return nil, fmt.Errorf("rediscluster: %s: ASKING: %w", addr, err)
		}
	}
	return c.Do(cmd, args...)
}

func (r *Router) pool(addr string) *redis.Pool {
	r.mu.RLock()
	p, ok := r.pools[addr]
	r.mu.RUnlock()
	if ok {
		return p
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.pools[addr]; ok {
		return p
	}
	p = r.newPool(addr)
	r.pools[addr] = p
	return p
}
