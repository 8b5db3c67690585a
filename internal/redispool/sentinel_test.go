package redispool

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/sessionauth/authd/internal/testenv"
)

// TestSentinelResolve shares one deployment between checks that leave it as
// it is: how the master is found, and which answers are refused.
func TestSentinelResolve(t *testing.T) {
	t.Parallel()
	sg := testenv.StartSentinels(t, testenv.SentinelOptions{})
	master := sg.MasterAddr(t)
	// Database 3 and a host that does not exist: the host must be ignored,
	// the database applied.
	rawURL := strings.Replace(sg.URL, "/0", "/3", 1)
	ctx := context.Background()

	t.Run("master", func(t *testing.T) {
		p := newPool(t, rawURL, Options{SentinelAddrs: sg.Addrs, SentinelMaster: sg.Master})
		c := get(t, p)
		if got := nodeAddr(t, c); got != master {
			t.Fatalf("connected to %s, want master %s", got, master)
		}
		info, err := redis.String(redis.DoContext(c, ctx, "CLIENT", "INFO"))
		if err != nil || !strings.Contains(info, " db=3 ") {
			t.Fatalf("CLIENT INFO = %q, %v; want db=3 from the URL", info, err)
		}
		if _, err := redis.DoContext(c, ctx, "SET", "k", "v"); err != nil {
			t.Fatalf("write to master: %v", err)
		}
	})

	t.Run("dead sentinel skipped", func(t *testing.T) {
		dead := testenv.FreeAddr(t)
		s := testSentinels(t, rawURL, append([]string{dead}, sg.Addrs...), sg.Master)
		c, err := s.dial(ctx)
		if err != nil {
			t.Fatalf("dial with a dead sentinel first: %v", err)
		}
		c.Close()
		if got := s.order(); got[0] != sg.Addrs[0] || got[len(got)-1] != sg.Addrs[len(sg.Addrs)-1] {
			t.Fatalf("sentinel order after dial = %v; want %s first", got, sg.Addrs[0])
		}
	})

	t.Run("stale sentinel rejected by ROLE", func(t *testing.T) {
		// A replica named as master by a sentinel with an outdated view.
		replica := orphanReplica(t)
		stale := testenv.StartStaleSentinel(t, sg.Master, replica.Addr)

		s := testSentinels(t, rawURL, []string{stale}, sg.Master)
		if _, err := s.dial(ctx); !errors.Is(err, errNotMaster) {
			t.Fatalf("dial via the stale sentinel alone: %v, want errNotMaster", err)
		}
		s = testSentinels(t, rawURL, append([]string{stale}, sg.Addrs...), sg.Master)
		c, err := s.dial(ctx)
		if err != nil {
			t.Fatalf("dial with a stale sentinel first: %v", err)
		}
		defer c.Close()
		if got := nodeAddr(t, c); got != master {
			t.Fatalf("connected to %s, want master %s", got, master)
		}
		if got := s.order(); got[0] == stale {
			t.Fatalf("stale sentinel still first: %v", got)
		}
	})

	t.Run("unknown master name", func(t *testing.T) {
		p := newPool(t, rawURL, Options{SentinelAddrs: sg.Addrs, SentinelMaster: "no-such-master"})
		_, err := p.GetContext(ctx)
		if !errors.Is(err, errUnknownMaster) || !strings.Contains(err.Error(), `"no-such-master"`) {
			t.Fatalf("unknown master name: %v", err)
		}
		t.Logf("error: %v", err)
	})

	t.Run("replica connection not reused", func(t *testing.T) {
		// A pooled connection whose node turned replica: simulated by
		// wrapping a connection to a replica, as if it had been the master.
		replica := orphanReplica(t)
		rc, err := redis.DialContext(ctx, "tcp", replica.Addr)
		if err != nil {
			t.Fatal(err)
		}
		mc := &masterConn{ctxConn: rc.(ctxConn), addr: replica.Addr}
		defer mc.Close()
		s := testSentinels(t, rawURL, sg.Addrs, sg.Master)
		s.master = replica.Addr
		if err := s.testOnBorrow(ctx, mc, time.Now()); err != nil {
			t.Fatalf("recently used connection: %v, want it handed out unchecked", err)
		}
		if err := s.testOnBorrow(ctx, mc, time.Now().Add(-2*roleCheckAfter)); !errors.Is(err, errNotMaster) {
			t.Fatalf("idle connection to a replica: %v, want errNotMaster", err)
		}
		if _, err := mc.DoContext(ctx, "SET", "k", "v"); err == nil || mc.Err() == nil {
			t.Fatalf("write to a replica: %v; Err after it: %v, want both set (READONLY)", err, mc.Err())
		}
		s.master = master
		if err := s.testOnBorrow(ctx, mc, time.Now()); err == nil {
			t.Fatal("connection to an address that is no longer the master was handed out")
		}
	})
}

// TestSentinelFailover kills the master and checks that the pool follows the
// failover: writes go to the promoted replica, and no connection to the
// dead node is handed out once the new master has been found.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	sg := testenv.StartSentinels(t, testenv.SentinelOptions{})
	p := newPool(t, sg.URL, Options{SentinelAddrs: sg.Addrs, SentinelMaster: sg.Master, MaxIdle: 8})
	warm(t, p, 8)

	start := time.Now()
	old := sg.KillMaster(t)
	var first time.Duration
	for first == 0 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("no write succeeded within 30s of killing the master")
		}
		if addr, err := write(p); err == nil {
			if addr == old {
				t.Fatalf("write succeeded on the killed master %s", old)
			}
			first = time.Since(start)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("first write on the new master %v after killing %s", first, old)
	expectAllOn(t, p, sg.WaitNewMaster(t, old, 10*time.Second))
}

// TestSentinelManualFailover demotes a live master (SENTINEL FAILOVER), with
// passwords on the data nodes and on the sentinels.
func TestSentinelManualFailover(t *testing.T) {
	t.Parallel()
	sg := testenv.StartSentinels(t, testenv.SentinelOptions{Password: "node-secret", SentinelPassword: "sentinel-secret"})
	rawURL := "redis://:" + "node-secret" + "@ignored.invalid/0"
	o := Options{SentinelAddrs: sg.Addrs, SentinelMaster: sg.Master, MaxIdle: 8}

	bad := o
	bad.SentinelPassword = "wrong"
	if _, err := newPool(t, rawURL, bad).GetContext(context.Background()); err == nil {
		t.Fatal("dial with a wrong sentinel password succeeded")
	}
	o.SentinelPassword = "sentinel-secret"
	p := newPool(t, rawURL, o)
	old := sg.MasterAddr(t)
	warm(t, p, 8)

	start := time.Now()
	sg.Failover(t)
	next := sg.WaitNewMaster(t, old, 20*time.Second)
	// Sentinel reconfigures the old master as a replica some seconds after
	// the promotion (and disconnects its clients). Until then it still says
	// master and takes writes that will be lost: a window of Redis Sentinel
	// itself, which no client can close.
	sg.WaitDemoted(t, old, 30*time.Second)
	t.Logf("%s promoted, %s demoted after %v", next, old, time.Since(start))
	expectAllOn(t, p, next)
}

// orphanReplica starts a replica of a master that does not exist, outside
// any sentinel deployment: ROLE says "slave" and writes get READONLY.
func orphanReplica(t *testing.T) *testenv.Redis {
	t.Helper()
	host, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
	return testenv.StartRedis(t, "--replicaof", host, port)
}

func newPool(t *testing.T, rawURL string, o Options) *redis.Pool {
	t.Helper()
	p, err := New(rawURL, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func testSentinels(t *testing.T, rawURL string, addrs []string, name string) *sentinels {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{SentinelAddrs: addrs, SentinelMaster: name}
	o.defaults()
	return newSentinels(u, o)
}

func get(t *testing.T, p *redis.Pool) redis.Conn {
	t.Helper()
	c, err := p.GetContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// warm fills the pool with n idle connections to the current master.
func warm(t *testing.T, p *redis.Pool, n int) {
	t.Helper()
	var cs []redis.Conn
	for range n {
		cs = append(cs, get(t, p))
	}
	for _, c := range cs {
		if _, err := c.Do("PING"); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if p.IdleCount() != n {
		t.Fatalf("%d idle connections, want %d", p.IdleCount(), n)
	}
}

// write sets a key through the pool and returns the address of the node
// that took it.
func write(p *redis.Pool) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := p.GetContext(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := redis.DoContext(c, ctx, "SET", "k", "v"); err != nil {
		return "", err
	}
	return connAddr(ctx, c)
}

// expectAllOn checks that concurrent writes through the pool all succeed on
// the node at want.
func expectAllOn(t *testing.T, p *redis.Pool, want string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			addr, err := write(p)
			if err == nil && addr != want {
				err = errors.New("write went to " + addr)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("after failover to %s: %v", want, err)
	}
}

func nodeAddr(t *testing.T, c redis.Conn) string {
	t.Helper()
	addr, err := connAddr(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// connAddr returns the loopback address of the node c talks to, from its
// own CONFIG.
func connAddr(ctx context.Context, c redis.Conn) (string, error) {
	kv, err := redis.Strings(redis.DoContext(c, ctx, "CONFIG", "GET", "port"))
	if err != nil {
		return "", err
	}
	if len(kv) != 2 {
		return "", errors.New("CONFIG GET port: unexpected reply")
	}
	return net.JoinHostPort("127.0.0.1", kv[1]), nil
}
