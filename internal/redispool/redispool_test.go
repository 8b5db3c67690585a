package redispool_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/testenv"
)

// After Redis restarts while the server is quiet, the pooled connections
// are dead; the first requests afterwards must not fail on them.
func TestIdleConnectionsCheckedAfterRestart(t *testing.T) {
	r := testenv.StartRedis(t)
	pool, err := redispool.New(r.URL, redispool.Options{MaxIdle: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	fillIdle(t, pool, 4)
	r.Stop(t)
	r.Start(t)
	time.Sleep(1100 * time.Millisecond) // quiet: no request during the restart
	for i := range 8 {
		if err := redispool.Ping(t.Context(), pool); err != nil {
			t.Fatalf("request %d after Redis came back failed on a dead pooled connection: %v", i, err)
		}
	}
}

// When Redis hangs, a request must not pay a full read timeout for every
// idle connection the pool tries before giving up.
func TestHungRedisCostsOneTimeoutNotOnePerIdleConnection(t *testing.T) {
	r := testenv.StartRedis(t, "--enable-debug-command", "yes")
	pool, err := redispool.New(r.URL, redispool.Options{MaxIdle: 8, ReadTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	fillIdle(t, pool, 8)
	time.Sleep(1100 * time.Millisecond) // idle long enough to be checked on borrow
	go r.Conn(t).Do("DEBUG", "SLEEP", "6")
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := redispool.Ping(t.Context(), pool); err == nil {
		t.Fatal("Ping succeeded while Redis slept")
	}
	// 8 health checks of 200ms and one 2s read timeout, not 8 x 2s.
	if d := time.Since(start); d > 4500*time.Millisecond {
		t.Fatalf("Ping against a hung Redis took %v", d)
	}
}

// fillIdle leaves n used connections idle in the pool.
func fillIdle(t *testing.T, pool *redis.Pool, n int) {
	t.Helper()
	conns := make([]redis.Conn, 0, n)
	for range n {
		c, err := pool.GetContext(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do("PING"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
}

// Settings that cannot work are refused with the expected form.
func TestCheckURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"redis://127.0.0.1:6379/0": "",
		"rediss://:pw@h:6380/2":    "",
		"redis://h:6379":           "",
		"redis://host/abc":         `the path must be a database number such as /0, not "/abc"`,
		"127.0.0.1:6391":           `"127.0.0.1:6391" is not a URL; want redis://[:password@]host:port/db, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS) (for this address: redis://127.0.0.1:6391/0)`,
		"http://x":                 "scheme must be redis:// or rediss://",
		"redis://":                 "missing host",
		":secret@h:1":              "the value is not a URL",
		"redis://:secret@h:1/-1":   "xxxxx",
	} {
		err := redispool.CheckURL(in)
		switch {
		case want == "" && err != nil:
			t.Errorf("CheckURL(%q) = %v, want nil", in, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("CheckURL(%q) = %v, want an error with %q", in, err, want)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("CheckURL(%q) = %v shows the password", in, err)
		}
	}
}
