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
		"redis://127.0.0.1:6379/0":             "",
		"rediss://:pw@h:6380/2":                "",
		"redis://h:6379":                       "",
		"redis://host/abc":                     `the path must be a database number such as /0, not "/abc"`,
		"127.0.0.1:6391":                       `"127.0.0.1:6391" is not a URL; want redis://[:password@]host:port/db, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS) (for this address: redis://127.0.0.1:6391/0)`,
		"http://x":                             "scheme must be redis://, rediss:// or redis+cluster://",
		"redis+cluster://h1:1,h2:2":            "",
		"rediss+cluster://:secret@h1:1,h2:2/0": "",
		"redis+cluster://:secret@h1:1,h2:x/0":  "the value is not a URL",
		"redis+cluster://h1:1,:2/0":            `cluster node ":2": want host:port`,
		"redis+cluster://:secret@h1:1,h2:2/3":  "only database 0",
		"redis://":                             "missing host",
		":secret@h:1":                          "the value is not a URL",
		"redis://:secret@h:1/-1":               "xxxxx",
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

// A cluster given by REDIS_CLUSTER_ADDRS is recorded for the command line
// as one redis+cluster:// URL with the same credentials; anything else as
// it was given.
func TestStoreURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		url   string
		addrs []string
		want  string
	}{
		{"redis://:pw@h:6379/0", nil, "redis://:pw@h:6379/0"},
		{"redis+cluster://a:1,b:2", nil, "redis+cluster://a:1,b:2"},
		{"rediss://:pw@ignored:6379/0", []string{"a:1", "b:2"}, "rediss+cluster://:pw@a:1,b:2"},
	} {
		got := redispool.StoreURL(c.url, c.addrs)
		if got != c.want {
			t.Errorf("StoreURL(%q, %q) = %q, want %q", c.url, c.addrs, got, c.want)
		}
		if redispool.IsCluster(got, nil) != (c.addrs != nil || strings.Contains(c.url, "+cluster")) {
			t.Errorf("IsCluster(%q) = %v", got, !redispool.IsCluster(got, nil))
		}
	}
}
