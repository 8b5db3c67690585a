package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alexedwards/scs/redisstore"
	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/testenv"
)

func TestStoreUpdateNeverResurrects(t *testing.T) {
	r := testenv.StartRedis(t)
	s := NewStore(redispool.Single(r.Pool(t)), "p:")
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	tok, old := hashToken("tok"), hashToken("old")

	// An update of a record that does not exist writes nothing.
	if err := s.CommitCtx(ctx, tok, []byte("v1"), exp); !errors.Is(err, errGone) {
		t.Fatalf("update of a missing record: %v, want errGone", err)
	}
	if _, found, _ := s.FindCtx(ctx, tok); found {
		t.Fatal("update created a record")
	}
	// A create writes; a second create of the same token refuses to overwrite.
	if err := s.CommitCtx(withCreate(ctx), tok, []byte("v1"), exp); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitCtx(withCreate(ctx), tok, []byte("evil"), exp); err == nil {
		t.Fatal("create overwrote a live record")
	}
	// Load, delete (sign-out elsewhere), then the loader's update: gone.
	b, found, err := s.FindCtx(ctx, tok)
	if err != nil || !found || string(b) != "v1" {
		t.Fatalf("find: %q %v %v", b, found, err)
	}
	if err := s.DeleteCtx(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitCtx(ctx, tok, []byte("v2"), exp); !errors.Is(err, errGone) {
		t.Fatalf("update after delete: %v, want errGone", err)
	}
	if n, _ := redis.Int(r.Conn(t).Do("EXISTS", recordKey("p:", tokenID("tok")))); n != 0 {
		t.Fatal("deleted record came back")
	}
	// An expiry in the past deletes instead of writing.
	_ = s.CommitCtx(withCreate(ctx), old, []byte("v"), exp)
	if err := s.CommitCtx(ctx, old, []byte("v"), time.Now().Add(-time.Second)); !errors.Is(err, errGone) {
		t.Fatalf("commit with past expiry: %v", err)
	}
	if n, _ := redis.Int(r.Conn(t).Do("EXISTS", recordKey("p:", tokenID("old")))); n != 0 {
		t.Fatal("record with past expiry kept")
	}
}

func TestStoreExpiryAndRedisstoreLayout(t *testing.T) {
	r := testenv.StartRedis(t)
	pool := r.Pool(t)
	s := NewStore(redispool.Single(pool), "authd:session:")
	ctx := context.Background()
	exp := time.Now().Add(90 * time.Second)
	h1 := hashToken("token one")
	if err := s.CommitCtx(withCreate(ctx), h1, []byte("data"), exp); err != nil {
		t.Fatal(err)
	}
	key := RecordKey("authd:session:", "token one")
	pttl, err := redis.Int64(r.Conn(t).Do("PTTL", key))
	if err != nil || pttl < 85_000 || pttl > 90_000 {
		t.Fatalf("PTTL %d (%v), want about 90s", pttl, err)
	}
	// The record is scs/redisstore's: the encoded session under a prefix,
	// here the configured one with the session's hash tag, and its id.
	id := tokenID("token one")
	rs := redisstore.NewWithPrefix(pool, "authd:session:{"+id[:2]+"}")
	b, found, err := rs.Find(id[2:])
	if err != nil || !found || string(b) != "data" {
		t.Fatalf("redisstore.Find: %q %v %v", b, found, err)
	}
	h2 := hashToken("token two")
	id2 := sessionID(h2)
	if err := redisstore.NewWithPrefix(pool, "authd:session:{"+id2[:2]+"}").Commit(id2[2:], []byte("theirs"), exp); err != nil {
		t.Fatal(err)
	}
	if b, found, err := s.FindCtx(ctx, h2); err != nil || !found || string(b) != "theirs" {
		t.Fatalf("FindCtx of a redisstore record: %q %v %v", b, found, err)
	}
	// What is not a hashed token never reaches Redis.
	if _, found, err := s.FindCtx(ctx, "not-a-hash"); found || err != nil {
		t.Fatalf("FindCtx(junk) = %v, %v", found, err)
	}
}

func TestStoreHonoursContextAndReportsOutage(t *testing.T) {
	r := testenv.StartRedis(t)
	s := NewStore(redispool.Single(r.Pool(t)), "p:")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.FindCtx(ctx, hashToken("x")); !errors.Is(err, errStore) || !errors.Is(err, context.Canceled) {
		t.Fatalf("find with a cancelled context: %v", err)
	}
	r.Stop(t)
	if _, _, err := s.FindCtx(context.Background(), hashToken("x")); !errors.Is(err, errStore) {
		t.Fatalf("find with Redis down: %v, want errStore", err)
	}
}
