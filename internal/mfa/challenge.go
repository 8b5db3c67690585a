package mfa

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/redispool"
)

// ChallengeTTL is how long a WebAuthn ceremony may take from its options
// to its answer.
const ChallengeTTL = 2 * time.Minute

// ErrNoChallenge: the ceremony is unknown, expired, used already, or was
// begun for another purpose.
var ErrNoChallenge = errors.New("mfa: no such WebAuthn challenge")

// Challenges keeps the state of WebAuthn ceremonies in Redis, each under
// a random id with a TTL, and hands each out once (GETDEL): a challenge
// answered, or replayed, finds nothing the second time.
type Challenges struct {
	conns  redispool.Source
	prefix string
	ttl    time.Duration
}

// NewChallenges returns ceremonies kept under prefix in conns' Redis; ttl
// zero means ChallengeTTL.
func NewChallenges(conns redispool.Source, prefix string, ttl time.Duration) *Challenges {
	if ttl <= 0 {
		ttl = ChallengeTTL
	}
	return &Challenges{conns: conns, prefix: prefix, ttl: ttl}
}

type ceremony struct {
	Purpose string               `json:"p"`
	Data    webauthn.SessionData `json:"d"`
}

// Put stores a ceremony's state for purpose (e.g. "register:42",
// "login", "2fa:<session id>") and returns its id.
func (c *Challenges) Put(ctx context.Context, purpose string, data *webauthn.SessionData) (string, error) {
	b := make([]byte, 16)
	rand.Read(b) // never fails since Go 1.24
	id := base64.RawURLEncoding.EncodeToString(b)
	v, err := json.Marshal(ceremony{Purpose: purpose, Data: *data})
	if err != nil {
		return "", fmt.Errorf("mfa: encode challenge: %w", err)
	}
	conn, err := c.conns.Get(ctx, c.prefix+id)
	if err != nil {
		return "", fmt.Errorf("mfa: store challenge: %w", err)
	}
	defer conn.Close()
	if _, err := redispool.Do(ctx, conn, "SET", c.prefix+id, v, "PX", c.ttl.Milliseconds()); err != nil {
		return "", fmt.Errorf("mfa: store challenge: %w", err)
	}
	return id, nil
}

// Take returns and deletes the ceremony id, if it was begun for purpose
// and has not expired.
func (c *Challenges) Take(ctx context.Context, id, purpose string) (webauthn.SessionData, error) {
	if id == "" || len(id) > 64 {
		return webauthn.SessionData{}, ErrNoChallenge
	}
	conn, err := c.conns.Get(ctx, c.prefix+id)
	if err != nil {
		return webauthn.SessionData{}, fmt.Errorf("mfa: read challenge: %w", err)
	}
	defer conn.Close()
	v, err := redis.Bytes(redispool.Do(ctx, conn, "GETDEL", c.prefix+id))
	if errors.Is(err, redis.ErrNil) {
		return webauthn.SessionData{}, ErrNoChallenge
	}
	if err != nil {
		return webauthn.SessionData{}, fmt.Errorf("mfa: read challenge: %w", err)
	}
	var cer ceremony
	if err := json.Unmarshal(v, &cer); err != nil || cer.Purpose != purpose {
		return webauthn.SessionData{}, ErrNoChallenge
	}
	return cer.Data, nil
}
