package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/gomodule/redigo/redis"
)

// Router sends each command to the primary that owns its key's slot, with
// one bounded redigo pool per primary. It follows MOVED (refreshing the slot
// map, then one retry) and ASK (ASKING and the command on the named node,
// once, the map unchanged), and nothing more. Not yet used by authd.
type Router struct {
	seeds   []string
	newPool func(addr string) *redis.Pool

	mu    sync.RWMutex
	slots [Slots]string // primary address per slot; "" when unknown
	pools map[string]*redis.Pool
}

// New returns a Router that learns the slot map from seeds (host:port of
// any nodes) and opens pools with newPool. It asks the seeds at once.
func New(ctx context.Context, seeds []string, newPool func(addr string) *redis.Pool) (*Router, error) {
	if len(seeds) == 0 {
		return nil, errors.New("rediscluster: no seed nodes")
	}
	r := &Router{seeds: seeds, newPool: newPool, pools: map[string]*redis.Pool{}}
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
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

// Refresh reloads the slot map from the known primaries, then the seeds,
// with CLUSTER SLOTS; the first node that answers wins.
func (r *Router) Refresh(ctx context.Context) error {
	r.mu.RLock()
	candidates := make([]string, 0, len(r.pools)+len(r.seeds))
	for a := range r.pools {
		candidates = append(candidates, a)
	}
	r.mu.RUnlock()
	candidates = append(candidates, r.seeds...)
	var errs []error
	for _, addr := range candidates {
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
		return nil
	}
	return fmt.Errorf("rediscluster: no node gave the slot map: %w", errors.Join(errs...))
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

// Do runs cmd for key on the primary of key's slot.
func (r *Router) Do(ctx context.Context, key, cmd string, args ...any) (any, error) {
	r.mu.RLock()
	addr := r.slots[Slot(key)]
	r.mu.RUnlock()
	if addr == "" {
		return nil, fmt.Errorf("rediscluster: slot %d of %q has no known primary", Slot(key), key)
	}
	reply, err := r.doOn(ctx, addr, false, cmd, args...)
	kind, target := redirect(err)
	switch kind {
	case "MOVED":
		if err := r.Refresh(ctx); err != nil {
			return nil, err
		}
		return r.doOn(ctx, target, false, cmd, args...)
	case "ASK":
		return r.doOn(ctx, target, true, cmd, args...)
	}
	return reply, err
}

// redirect parses "MOVED slot addr" and "ASK slot addr" errors.
func redirect(err error) (kind, addr string) {
	var re redis.Error
	if !errors.As(err, &re) {
		return "", ""
	}
	f := strings.Fields(string(re))
	if len(f) == 3 && (f[0] == "MOVED" || f[0] == "ASK") {
		return f[0], f[2]
	}
	return "", ""
}

// doOn runs one command on the node at addr, after ASKING when asking.
func (r *Router) doOn(ctx context.Context, addr string, asking bool, cmd string, args ...any) (any, error) {
	c, err := r.pool(addr).GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("rediscluster: %s: %w", addr, err)
	}
	defer c.Close()
	if asking {
		if _, err := redis.DoContext(c, ctx, "ASKING"); err != nil {
			return nil, fmt.Errorf("rediscluster: %s: ASKING: %w", addr, err)
		}
	}
	return redis.DoContext(c, ctx, cmd, args...)
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
