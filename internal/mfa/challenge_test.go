package mfa_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/testenv"
)

// A WebAuthn challenge is handed out once, for the purpose it was begun
// for, and lives ChallengeTTL at most in Redis.
func TestChallengesSingleUse(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	pool := r.Pool(t)
	c := mfa.NewChallenges(redispool.Single(pool), "test:webauthn:", 0)
	ctx := context.Background()
	data := &webauthn.SessionData{Challenge: "abc", UserID: mfa.UserHandle(7)}

	id, err := c.Put(ctx, "login", data)
	if err != nil {
		t.Fatal(err)
	}
	ttl, err := redis.Int64(r.Conn(t).Do("PTTL", "test:webauthn:"+id))
	if err != nil || ttl <= 0 || time.Duration(ttl)*time.Millisecond > mfa.ChallengeTTL {
		t.Fatalf("challenge TTL %dms (%v), want within %v", ttl, err, mfa.ChallengeTTL)
	}
	got, err := c.Take(ctx, id, "login")
	if err != nil || got.Challenge != "abc" {
		t.Fatalf("first take: %+v, %v", got, err)
	}
	if _, err := c.Take(ctx, id, "login"); !errors.Is(err, mfa.ErrNoChallenge) {
		t.Fatalf("second take: %v, want ErrNoChallenge", err)
	}

	// Begun for one purpose, it is no good for another, and is spent.
	id, _ = c.Put(ctx, "register:session-a", data)
	if _, err := c.Take(ctx, id, "register:session-b"); !errors.Is(err, mfa.ErrNoChallenge) {
		t.Fatalf("other purpose: %v, want ErrNoChallenge", err)
	}
	if _, err := c.Take(ctx, id, "register:session-a"); !errors.Is(err, mfa.ErrNoChallenge) {
		t.Fatalf("after a take for another purpose: %v, want ErrNoChallenge", err)
	}
	// Expired (Redis dropped the key at its TTL): gone.
	id, _ = c.Put(ctx, "login", data)
	if _, err := r.Conn(t).Do("DEL", "test:webauthn:"+id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Take(ctx, id, "login"); !errors.Is(err, mfa.ErrNoChallenge) {
		t.Fatalf("expired: %v, want ErrNoChallenge", err)
	}
	for _, bad := range []string{"", "x", string(make([]byte, 100))} {
		if _, err := c.Take(ctx, bad, "login"); !errors.Is(err, mfa.ErrNoChallenge) {
			t.Errorf("id %q: %v", bad, err)
		}
	}
}
