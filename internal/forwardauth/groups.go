package forwardauth

import (
	"context"
	"sync"
	"time"

	"github.com/sessionauth/authd/internal/group"
)

// maxCachedUsers bounds the group cache; past it, expired entries are
// dropped, and if none are, the whole cache.
const maxCachedUsers = 100_000

// groupCache keeps each user's groups in memory for a while, so that a
// verify request, which proxies send on every request to a protected app,
// costs no database query (the session itself is one Redis read). A change
// of groups therefore applies within ttl, on every instance.
type groupCache struct {
	store *group.Store
	ttl   time.Duration
	now   func() time.Time

	mu sync.Mutex
	m  map[int64]groupEntry
}

type groupEntry struct {
	names   []string
	fetched time.Time
}

// of returns the user's groups, from the cache while fresh. The slice is
// shared: callers must not change it.
func (c *groupCache) of(ctx context.Context, userID int64) ([]string, error) {
	now := c.now()
	if c.ttl > 0 {
		c.mu.Lock()
		e, ok := c.m[userID]
		c.mu.Unlock()
		if ok && now.Sub(e.fetched) < c.ttl {
			return e.names, nil
		}
	}
	names, err := c.store.Of(ctx, userID)
	if err != nil || c.ttl <= 0 {
		return names, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedUsers {
		for id, e := range c.m {
			if now.Sub(e.fetched) >= c.ttl {
				delete(c.m, id)
			}
		}
		if len(c.m) >= maxCachedUsers {
			clear(c.m)
		}
	}
	c.m[userID] = groupEntry{names: names, fetched: now}
	return names, nil
}
