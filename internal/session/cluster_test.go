package session

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/rediscluster"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/testenv"
)

// While a user's slot migrates between two primaries of a real cluster,
// with the user's keys half on each, the scripts that reach keys through
// the index refuse to run (TRYAGAIN, then an error: the caller answers
// 503) instead of seeing half a user: a revocation must never end some
// sessions and silently miss the others. Once the slot has moved, the same
// revocation ends them all.
func TestScriptsRefuseAHalfMigratedUser(t *testing.T) {
	t.Parallel()
	cl := testenv.StartCluster(t, 3, 0)
	ctx := t.Context()
	src, err := redispool.Open(ctx, "redis+cluster://"+strings.Join(cl.Addrs(), ","), redispool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	m, err := NewManager(src, Config{Lifetime: time.Hour, IdleTimeout: 10 * time.Minute, KeyPrefix: "s:"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const uid = 7
	// A password change first, so that every key the scripts declare
	// exists (the epoch too): only the undeclared records are split.
	if _, err := m.RevokeAll(ctx, uid, 1, EndPasswordChanged); err != nil {
		t.Fatal(err)
	}
	start := func() TokenSession {
		ts, err := m.StartToken(ctx, TokenGrant{Grant: Grant{UserID: uid, Name: "alice", Epoch: 1}, ClientID: "cli"})
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	a, b := start(), start()

	slot := rediscluster.Slot(IndexKey("s:", uid))
	from := cl.OwnerOf(t, slot, "")
	to := ""
	for _, p := range cl.Primaries(t) {
		if p != from {
			to = p
			break
		}
	}
	fromNode, toNode := cl.Node(t, from), cl.Node(t, to)
	run := func(n *testenv.Redis, cmd string, args ...any) any {
		t.Helper()
		v, err := n.Conn(t).Do(cmd, args...)
		if err != nil {
			t.Fatalf("%s %v on %s: %v", cmd, args, n.Addr, err)
		}
		return v
	}
	host, port, _ := net.SplitHostPort(to)
	run(toNode, "CLUSTER", "SETSLOT", slot, "IMPORTING", cl.ID(t, from))
	run(fromNode, "CLUSTER", "SETSLOT", slot, "MIGRATING", cl.ID(t, to))
	run(fromNode, "MIGRATE", host, port, "", 0, 5000, "KEYS", recordKey("s:", a.ID))

	// Half moved: a's record on the new primary, the rest on the old one.
	if _, err := m.RevokeAll(ctx, uid, 0, EndRevoked); err == nil {
		t.Fatal("RevokeAll ran while the user's keys were split between two nodes")
	}
	if ended, err := m.EndSession(ctx, uid, b.ID); err == nil || ended {
		t.Fatalf("EndSession while the slot migrates = %v, %v; want an error", ended, err)
	}
	if n, _ := redis.Int(fromNode.Conn(t).Do("ZCARD", IndexKey("s:", uid))); n != 2 {
		t.Fatalf("the refused revocations changed the index: %d members, want 2", n)
	}
	if n, _ := redis.Int(fromNode.Conn(t).Do("EXISTS", recordKey("s:", b.ID))); n != 1 {
		t.Fatal("the refused revocations deleted a record")
	}

	// Finish the migration as redis-cli would; now the revocation ends both.
	keys, err := redis.Strings(fromNode.Conn(t).Do("CLUSTER", "GETKEYSINSLOT", slot, 1000))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		run(fromNode, "MIGRATE", host, port, "", 0, 5000, "KEYS", k)
	}
	for _, n := range cl.Nodes {
		run(n, "CLUSTER", "SETSLOT", slot, "NODE", cl.ID(t, to))
	}
	n, err := m.RevokeAll(ctx, uid, 0, EndRevoked)
	if err != nil || n != 2 {
		t.Fatalf("RevokeAll after the migration = %d, %v; want both sessions ended", n, err)
	}
	for _, ts := range []TokenSession{a, b} {
		if _, err := m.Live(ctx, ts.ID, uid); err != ErrSignedOut {
			t.Errorf("session %s after RevokeAll: %v, want ErrSignedOut", ts.ID, err)
		}
	}
}
