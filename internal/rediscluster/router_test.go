package rediscluster_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/rediscluster"
	"github.com/sessionauth/authd/internal/testenv"
)

func newPool(addr string) (*redis.Pool, error) {
	return &redis.Pool{MaxActive: 8, MaxIdle: 8, Wait: true,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, "tcp", addr, redis.DialConnectTimeout(time.Second),
				redis.DialReadTimeout(2*time.Second), redis.DialWriteTimeout(2*time.Second))
		}}, nil
}

// The router sends every key to its slot's primary on a real cluster, and
// keeps answering while a slot migrates from one primary to another: ASK
// for a key already moved (the map unchanged), then MOVED once the slot
// belongs to the new primary (the map refreshed).
func TestRouterFollowsTheSlots(t *testing.T) {
	t.Parallel()
	cl := testenv.StartCluster(t, 3, 0)
	ctx := t.Context()
	r, err := rediscluster.New(ctx, cl.Addrs()[:1], newPool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	for i := range 300 {
		k := fmt.Sprintf("key%d", i)
		if _, err := r.Do(ctx, k, "SET", k, i); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	for i := range 300 {
		k := fmt.Sprintf("key%d", i)
		if v, err := redis.Int(r.Do(ctx, k, "GET", k)); err != nil || v != i {
			t.Fatalf("GET %s = %d, %v", k, v, err)
		}
	}

	// Move the slot of "{m}" from its primary A to another, B, by hand.
	a, b := ownerAndOther(t, cl, "{m}")
	ida, idb := myID(t, a), myID(t, b)
	slot := rediscluster.Slot("{m}")
	for _, k := range []string{"{m}1", "{m}2"} {
		if _, err := r.Do(ctx, k, "SET", k, "v"+k); err != nil {
			t.Fatal(err)
		}
	}
	must(t, b, "CLUSTER", "SETSLOT", slot, "IMPORTING", ida)
	must(t, a, "CLUSTER", "SETSLOT", slot, "MIGRATING", idb)
	bhost, bport, _ := net.SplitHostPort(b.Addr)
	must(t, a, "MIGRATE", bhost, bport, "", 0, 5000, "KEYS", "{m}1")
	for _, k := range []string{"{m}1", "{m}2"} { // moved (ASK) and not yet moved
		if v, err := redis.String(r.Do(ctx, k, "GET", k)); err != nil || v != "v"+k {
			t.Fatalf("during the migration, GET %s = %q, %v", k, v, err)
		}
	}
	// After an ASK the connection talks to the importing node, so that a
	// WAIT after a write there counts that node's replicas.
	ac, err := r.Get(ctx, "{m}1")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := redis.String(ac.Do("GET", "{m}1")); err != nil || v != "v{m}1" {
		t.Fatalf("GET through ASK = %q, %v", v, err)
	}
	if port := infoField(t, ac, "server", "tcp_port"); port != bport {
		t.Errorf("after ASK the connection talks to port %s, want %s (the importing node)", port, bport)
	}
	// A key not yet moved, on the same connection: MOVED back to the owner.
	if v, err := redis.String(ac.Do("GET", "{m}2")); err != nil || v != "v{m}2" {
		t.Fatalf("GET of a key not yet moved after an ASK = %q, %v", v, err)
	}
	ac.Close()
	// A command over keys on both sides of the migration gets TRYAGAIN:
	// retried a few times, then the caller's error, never a wrong answer.
	if v, err := r.Do(ctx, "{m}1", "MGET", "{m}1", "{m}2"); err == nil || !strings.HasPrefix(err.Error(), "TRYAGAIN") {
		t.Fatalf("MGET across a half-migrated slot = %v, %v; want the TRYAGAIN error", v, err)
	}
	must(t, a, "MIGRATE", bhost, bport, "", 0, 5000, "KEYS", "{m}2")
	for _, n := range cl.Nodes {
		must(t, n, "CLUSTER", "SETSLOT", slot, "NODE", idb)
	}
	// A connection taken for the slot before the map was refreshed follows
	// MOVED and stays on the new node: a WAIT after a write must reach the
	// node that took the write.
	c, err := r.Get(ctx, "{m}2")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, err := redis.String(c.Do("GET", "{m}2")); err != nil || v != "v{m}2" {
		t.Fatalf("after the migration, GET {m}2 = %q, %v", v, err)
	}
	if port := infoField(t, c, "server", "tcp_port"); port != bport {
		t.Errorf("after MOVED the connection talks to port %s, want %s (the new owner)", port, bport)
	}
	if v, err := redis.Strings(r.Do(ctx, "{m}1", "MGET", "{m}1", "{m}2")); err != nil || v[0] != "v{m}1" || v[1] != "v{m}2" {
		t.Fatalf("after the migration, MGET = %q, %v", v, err)
	}
	// The map was refreshed: the next command goes to B directly.
	before := getCalls(t, a)
	if _, err := r.Do(ctx, "{m}1", "GET", "{m}1"); err != nil {
		t.Fatal(err)
	}
	if after := getCalls(t, a); after != before {
		t.Errorf("after the refresh a GET of the moved slot still went to the old primary (%d → %d GETs)", before, after)
	}
}

func ownerAndOther(t *testing.T, cl *testenv.Cluster, key string) (owner, other *testenv.Redis) {
	t.Helper()
	for _, n := range cl.Nodes {
		if _, err := n.Conn(t).Do("EXISTS", key); err == nil {
			owner = n
		} else if other == nil {
			other = n
		}
	}
	if owner == nil || other == nil {
		t.Fatalf("no owner of %q found", key)
	}
	return owner, other
}

func myID(t *testing.T, n *testenv.Redis) string {
	t.Helper()
	id, err := redis.String(n.Conn(t).Do("CLUSTER", "MYID"))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func must(t *testing.T, n *testenv.Redis, cmd string, args ...any) {
	t.Helper()
	if _, err := n.Conn(t).Do(cmd, args...); err != nil {
		t.Fatalf("%s %v on %s: %v", cmd, args, n.Addr, err)
	}
}

// getCalls is how many GETs the node has executed (INFO commandstats).
func getCalls(t *testing.T, n *testenv.Redis) int {
	t.Helper()
	s, err := redis.String(n.Conn(t).Do("INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(s) {
		if v, ok := strings.CutPrefix(line, "cmdstat_get:calls="); ok {
			calls, _ := strconv.Atoi(v[:strings.IndexByte(v, ',')])
			return calls
		}
	}
	return 0
}

// infoField reads one field of INFO section on c.
func infoField(t *testing.T, c redis.Conn, section, field string) string {
	t.Helper()
	s, err := redis.String(c.Do("INFO", section))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(s) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return ""
}

// Ping fails only when no primary answers: with one down, the others'
// users are still served, and every instance would report the same.
// A router made while the cluster is down learns the map on first use.
func TestRouterPingAndLateStart(t *testing.T) {
	t.Parallel()
	cl := testenv.StartCluster(t, 3, 0)
	ctx := t.Context()
	down, err := rediscluster.New(ctx, []string{testenv.FreeAddr(t)}, newPool)
	if err != nil {
		t.Fatalf("a router whose seed is down: %v, want one that asks again later", err)
	}
	if err := down.Ping(ctx); err == nil {
		t.Fatal("Ping with no node reachable = nil")
	}
	down.Close()

	r, err := rediscluster.New(ctx, cl.Addrs(), newPool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	cl.Kill(t, cl.Nodes[0].Addr)
	if err := r.Ping(ctx); err != nil {
		t.Errorf("Ping with one primary of 3 down = %v, want nil", err)
	}
	cl.Kill(t, cl.Nodes[1].Addr)
	cl.Kill(t, cl.Nodes[2].Addr)
	if err := r.Ping(ctx); err == nil {
		t.Error("Ping with every primary down = nil")
	}
}

// BenchmarkGet compares a GET through the router with one on a plain
// pool to a primary of the same cluster: the router's own cost per command
// (slot, map lookup, the redirection check).
//
//	go test -run '^$' -bench Get -benchmem ./internal/rediscluster
func BenchmarkGet(b *testing.B) {
	cl := testenv.StartCluster(b, 3, 0)
	ctx := context.Background()
	r, err := rediscluster.New(ctx, cl.Addrs(), newPool)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	key := "{bench}k"
	if _, err := r.Do(ctx, key, "SET", key, "v"); err != nil {
		b.Fatal(err)
	}
	owner := cl.OwnerOf(b, rediscluster.Slot(key), "")
	plain, _ := newPool(owner)
	b.Cleanup(func() { plain.Close() })
	b.Run("pool", func(b *testing.B) {
		for b.Loop() {
			c, err := plain.GetContext(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := redis.String(c.Do("GET", key)); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("router", func(b *testing.B) {
		for b.Loop() {
			c, err := r.Get(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := redis.String(c.Do("GET", key)); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}
