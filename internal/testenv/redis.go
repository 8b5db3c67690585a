// Package testenv starts the real services tests talk to: a private
// redis-server on a free loopback port, a fresh SQLite file, and a fresh
// PostgreSQL database where one is configured. Nothing here is a fake.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Redis is a redis-server process owned by one test. It never touches a Redis
// the test did not start, so flushing or stopping it is safe.
type Redis struct {
	// Addr is host:port of the server, stable across Stop and Start.
	Addr string
	// URL is the redis:// URL of the server.
	URL string

	dir      string
	password string
	cmd      *exec.Cmd
}

// StartRedis starts redis-server on a free loopback port, waits until it
// answers PING, and stops it when the test ends. The test fails, rather than
// skips, when redis-server is not installed: the suite is meaningless without it.
func StartRedis(t testing.TB, extraArgs ...string) *Redis {
	t.Helper()
	r := newRedis(t, "")
	r.start(t, extraArgs...)
	return r
}

// newRedis picks a free loopback port and a directory for a server that is
// not started yet, and kills the server when the test ends. password is the
// server's requirepass, used when waiting for it and by Conn.
func newRedis(t testing.TB, password string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found in PATH (install it: apt-get install redis-server): %v", err)
	}
	port := freePort(t)
	r := &Redis{
		Addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dir:      t.TempDir(),
		password: password,
	}
	r.URL = "redis://" + r.Addr + "/0"
	t.Cleanup(func() { r.kill() })
	return r
}

// Start restarts a stopped server on the same port.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	r.start(t)
}

// Stop kills the server, simulating Redis going away, and waits for it to exit.
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	r.kill()
}

// Conn opens a direct connection for inspecting the server (KEYS, INFO, TTL).
func (r *Redis) Conn(t testing.TB) redis.Conn {
	t.Helper()
	c, err := redis.Dial("tcp", r.Addr, redis.DialConnectTimeout(time.Second), redis.DialPassword(r.password))
	if err != nil {
		t.Fatalf("dial test redis: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Pool returns a small connection pool to the server, closed when the test ends.
func (r *Redis) Pool(t testing.TB) *redis.Pool {
	t.Helper()
	p := &redis.Pool{
		MaxIdle:   4,
		MaxActive: 32,
		Wait:      true,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, "tcp", r.Addr,
				redis.DialPassword(r.password),
				redis.DialConnectTimeout(time.Second),
				redis.DialReadTimeout(2*time.Second),
				redis.DialWriteTimeout(2*time.Second))
		},
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func (r *Redis) start(t testing.TB, extraArgs ...string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	args := append([]string{
		"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"),
	}, extraArgs...)
	r.run(t, args...)
}

// run starts redis-server with args and waits until it answers PING.
func (r *Redis) run(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	r.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := redis.Dial("tcp", r.Addr, redis.DialConnectTimeout(200*time.Millisecond), redis.DialPassword(r.password))
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
			if err == nil {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	r.kill()
	t.Fatalf("redis-server on %s did not answer PING within 10s; its log:\n%s", r.Addr, log)
}

func (r *Redis) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before redis-server binds it; StartRedis then fails loudly.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// Pause stops the server process (SIGSTOP) without closing its connections,
// as a machine that hangs would: peers see it connected but it answers
// nothing until Resume. Resume runs when the test ends, before the kill.
func (r *Redis) Pause(t testing.TB) {
	t.Helper()
	if r.cmd == nil || r.cmd.Process == nil {
		t.Fatalf("redis-server on %s is not running", r.Addr)
	}
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP redis-server: %v", err)
	}
	t.Cleanup(func() { r.Resume(t) })
}

// Resume continues a paused server (SIGCONT); a running one is unaffected.
func (r *Redis) Resume(t testing.TB) {
	t.Helper()
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Errorf("SIGCONT redis-server: %v", err)
	}
}
