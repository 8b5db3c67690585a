package loadtest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
)

// privateRedis is a redis-server started for this run alone, on a free
// loopback port, keeping nothing on disk. It is never the shared Redis.
type privateRedis struct {
	*proc
	Addr string
	URL  string
	log  string
}

// startRedis starts redis-server in dir. The port is picked free a moment
// before redis-server binds it; if another process takes it meanwhile,
// redis-server fails to start and another port is tried.
func startRedis(ctx context.Context, bin, dir string) (*privateRedis, error) {
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("%s not found (install it: apt-get install redis-server): %w", bin, err)
	}
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r := &privateRedis{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			log:  filepath.Join(dir, "redis.log"),
		}
		r.URL = "redis://" + r.Addr + "/0"
		r.proc, err = startProc(exec.Command(bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", r.log))
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		if lastErr = r.waitReady(ctx, 10*time.Second); lastErr == nil {
			return r, nil
		}
		r.stop(time.Second)
		if ctx.Err() != nil {
			return nil, lastErr
		}
	}
	return nil, lastErr
}

func (r *privateRedis) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		c, err := redis.Dial("tcp", r.Addr, redis.DialConnectTimeout(200*time.Millisecond))
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-r.done:
			return fmt.Errorf("redis-server on %s exited at start; its log:\n%s", r.Addr, tail(r.log, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("redis-server on %s did not answer PING within %s; its log:\n%s", r.Addr, within, tail(r.log, 20))
}

// pool returns a connection pool to the server, for minting sessions and
// reading INFO.
func (r *privateRedis) pool(maxActive int) *redis.Pool {
	return &redis.Pool{
		MaxIdle:   maxActive,
		MaxActive: maxActive,
		Wait:      true,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, "tcp", r.Addr,
				redis.DialConnectTimeout(2*time.Second),
				redis.DialReadTimeout(30*time.Second),
				redis.DialWriteTimeout(5*time.Second))
		},
	}
}

// info runs INFO section and returns its text.
func info(ctx context.Context, pool *redis.Pool, section string) (string, error) {
	c, err := pool.GetContext(ctx)
	if err != nil {
		return "", fmt.Errorf("redis: %w", err)
	}
	defer c.Close()
	s, err := redis.String(redis.DoContext(c, ctx, "INFO", section))
	if err != nil {
		return "", fmt.Errorf("redis INFO %s: %w", section, err)
	}
	return s, nil
}

// commandStats returns the calls per command so far, leaving out INFO
// itself: only the benchmark sends it.
func commandStats(ctx context.Context, pool *redis.Pool) (CommandCalls, error) {
	s, err := info(ctx, pool, "commandstats")
	if err != nil {
		return nil, err
	}
	calls, err := ParseCommandStats(s)
	delete(calls, "info")
	return calls, err
}

func usedMemory(ctx context.Context, pool *redis.Pool) (int64, error) {
	s, err := info(ctx, pool, "memory")
	if err != nil {
		return 0, err
	}
	return InfoInt(ParseInfo(s), "used_memory")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
