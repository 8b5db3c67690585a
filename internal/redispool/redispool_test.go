package redispool_test

import (
	"testing"
	"time"

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
	// Fill the pool with four idle connections.
	var conns []interface{ Close() error }
	for range 4 {
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
	r.Stop(t)
	r.Start(t)
	time.Sleep(1100 * time.Millisecond) // quiet: no request during the restart
	for i := range 8 {
		if err := redispool.Ping(t.Context(), pool); err != nil {
			t.Fatalf("request %d after Redis came back failed on a dead pooled connection: %v", i, err)
		}
	}
}
