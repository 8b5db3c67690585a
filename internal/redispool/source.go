package redispool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/rediscluster"
)

// Source hands out Redis connections by key. One pool (a single Redis, or
// the master that Sentinel names) serves every key; a Redis Cluster serves
// each key from the primary of its slot (rediscluster.Router). Callers name
// the first key of what they will send; commands without keys (PING, INFO,
// WAIT) go on a connection taken for a key, and reach that key's node.
type Source interface {
	// Get returns a connection for key within ctx; the caller closes it.
	Get(ctx context.Context, key string) (redis.Conn, error)
	// Ping checks that Redis answers: the one node, or for a cluster at
	// least one primary (a dead primary's users get 503 meanwhile, on
	// every instance alike, so no instance is less ready than another).
	Ping(ctx context.Context) error
	// Stats and MaxActive describe the pools, summed over nodes (metrics).
	Stats() redis.PoolStats
	MaxActive() int
	Close() error
}

// Single is a Source of one pool.
func Single(p *redis.Pool) Source { return single{p} }

type single struct{ p *redis.Pool }

func (s single) Get(ctx context.Context, _ string) (redis.Conn, error) { return s.p.GetContext(ctx) }
func (s single) Ping(ctx context.Context) error                        { return Ping(ctx, s.p) }
func (s single) Stats() redis.PoolStats                                { return s.p.Stats() }
func (s single) MaxActive() int                                        { return s.p.MaxActive }
func (s single) Close() error                                          { return s.p.Close() }

// Open returns the Source for rawURL and o: a Redis Cluster when the URL's
// scheme is redis+cluster:// (or rediss+cluster://, seeds comma-separated
// in the host part) or o.ClusterAddrs is set, and otherwise one pool (New).
// Every node of a cluster is dialled with the URL's password and TLS
// setting, and gets a pool bounded by o.MaxActive.
func Open(ctx context.Context, rawURL string, o Options) (Source, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	node, seeds := clusterSeeds(rawURL, o.ClusterAddrs)
	if seeds == nil {
		p, err := New(rawURL, o)
		if err != nil {
			return nil, err
		}
		return Single(p), nil
	}
	newPool := func(addr string) (*redis.Pool, error) {
		u := node
		u.Host = addr
		return New(u.String(), o)
	}
	r, err := rediscluster.New(ctx, seeds, newPool)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// clusterSeeds returns, for a cluster configuration, the URL each node is
// dialled with (scheme redis or rediss, the credentials, no database) and
// the seed addresses; seeds is nil when rawURL and addrs name no cluster.
func clusterSeeds(rawURL string, addrs []string) (node url.URL, seeds []string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return url.URL{}, nil
	}
	base, isCluster := strings.CutSuffix(u.Scheme, "+cluster")
	switch {
	case isCluster:
		seeds = strings.Split(u.Host, ",")
	case len(addrs) > 0:
		seeds = addrs
	default:
		return url.URL{}, nil
	}
	return url.URL{Scheme: base, User: u.User, Host: seeds[0]}, seeds
}

// StoreURL returns one URL that names the store rawURL and addrs
// configure, for another process to reach it (the command line): for a
// cluster given by addrs, the redis+cluster:// URL of those nodes with
// rawURL's credentials and TLS setting; otherwise rawURL.
func StoreURL(rawURL string, addrs []string) string {
	node, seeds := clusterSeeds(rawURL, addrs)
	if seeds == nil || len(addrs) == 0 {
		return rawURL
	}
	node.Scheme += "+cluster"
	node.Host = strings.Join(seeds, ",")
	return node.String()
}

// IsCluster reports whether rawURL and addrs configure a Redis Cluster.
func IsCluster(rawURL string, addrs []string) bool {
	_, seeds := clusterSeeds(rawURL, addrs)
	return seeds != nil
}

// CheckCluster checks REDIS_CLUSTER_ADDRS with the URL it goes with:
// nodes as host:port, and no database but 0 (a cluster has no other).
func CheckCluster(rawURL string, addrs []string) error {
	for _, a := range addrs {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" {
			return fmt.Errorf("cluster node %q: want host:port", a)
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return errors.New("the Redis URL is not a URL") // url's error would show a password
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" && db != "0" {
		return fmt.Errorf("the Redis URL names database %q, but a Redis Cluster has only database 0", u.Path)
	}
	return nil
}

// checkClusterURL checks a redis+cluster:// URL, whose host part is the
// comma-separated seeds.
func checkClusterURL(u *url.URL) error {
	if err := CheckCluster(u.String(), strings.Split(u.Host, ",")); err != nil {
		return fmt.Errorf("redis URL %s: %w", Redact(u.String()), err)
	}
	return nil
}
