// Package memredis runs an embedded, in-process Redis-compatible store
// (miniredis) for development, selected with REDIS_URL=memory://. It lets
// "make run" serve a working sign-in on a machine with nothing but Go.
//
// Everything lives in the authd process: sessions die with it and cannot be
// shared with a second instance. The store listens on a loopback port of
// its own, behind a random password, so that the authd command line
// ("authd session list", "authd user passwd") can reach the sessions of the
// running server; see package serverfile for how it finds the address.
package memredis

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"

	"github.com/alicebob/miniredis/v2"
)

// URL is the REDIS_URL that selects the embedded store.
const URL = "memory://"

// IsURL reports whether rawURL selects the embedded store (memory://,
// in any case, with nothing after the scheme).
func IsURL(rawURL string) bool {
	return strings.EqualFold(rawURL, URL)
}

// IsMemoryScheme reports whether rawURL has the memory scheme at all, so
// that a near miss (memory://x) gets an error of its own.
func IsMemoryScheme(rawURL string) bool {
	scheme, _, ok := strings.Cut(rawURL, "://")
	return ok && strings.EqualFold(scheme, "memory")
}

// Warning is what the server logs and /readyz says about this mode.
const Warning = "sessions live in memory (REDIS_URL=memory://): for development only; " +
	"they die with the process and cannot be shared with a second instance"

// Store is a running embedded store.
type Store struct {
	m   *miniredis.Miniredis
	url string
}

// Start runs an embedded store on 127.0.0.1 on a port the kernel picks.
// Keys expire by the wall clock, as in Redis.
func Start() (*Store, error) {
	m := miniredis.NewMiniRedis()
	pw := rand.Text()
	m.RequireAuth(pw)
	m.ClockTTL(true)
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("memory store: listen: %w", err)
	}
	u := url.URL{Scheme: "redis", User: url.UserPassword("", pw), Host: m.Addr(), Path: "/0"}
	return &Store{m: m, url: u.String()}, nil
}

// RedisURL is the redis:// URL (password included) the store answers on.
func (s *Store) RedisURL() string { return s.url }

// Close stops the store; everything in it is gone.
func (s *Store) Close() { s.m.Close() }
