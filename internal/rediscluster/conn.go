package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gomodule/redigo/redis"
)

// conn is a pooled connection to one primary that follows the cluster's
// redirections for Do and its variants. Send, Flush and Receive go to the
// current node as they are: authd sends no pipelines.
type conn struct {
	r    *Router
	ctx  context.Context // of Get: bounds the connections a redirection takes
	addr string
	c    redis.Conn
}

var (
	_ redis.ConnWithTimeout = (*conn)(nil)
	_ redis.ConnWithContext = (*conn)(nil)
)

func (c *conn) Close() error { return c.c.Close() }
func (c *conn) Err() error   { return c.c.Err() }

func (c *conn) Send(cmd string, args ...any) error { return c.c.Send(cmd, args...) }
func (c *conn) Flush() error                       { return c.c.Flush() }
func (c *conn) Receive() (any, error)              { return c.c.Receive() }

func (c *conn) ReceiveWithTimeout(d time.Duration) (any, error) {
	return redis.ReceiveWithTimeout(c.c, d)
}

func (c *conn) ReceiveContext(ctx context.Context) (any, error) {
	return redis.ReceiveContext(c.c, ctx)
}

func (c *conn) Do(cmd string, args ...any) (any, error) {
	return c.run(func(rc redis.Conn) (any, error) { return rc.Do(cmd, args...) })
}

func (c *conn) DoWithTimeout(d time.Duration, cmd string, args ...any) (any, error) {
	return c.run(func(rc redis.Conn) (any, error) { return redis.DoWithTimeout(rc, d, cmd, args...) })
}

func (c *conn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	return c.run(func(rc redis.Conn) (any, error) { return redis.DoContext(rc, ctx, cmd, args...) })
}

// run sends a command with f and follows what the cluster answers. Both
// redirections move the connection to the named node for this command and
// the ones after it: a WAIT after a write must reach the node that took
// the write. Only the redirected command itself is sent with ASKING: the
// slot still belongs to the old node, which a later command for another
// key reaches again through MOVED.
func (c *conn) run(f func(redis.Conn) (any, error)) (any, error) {
	seen := time.Now()
	asking := false
	reply, err := f(c.c)
	for redirects, waits := 0, 0; ; {
		rd := redirect(err)
		switch rd.kind {
		case "MOVED", "ASK":
			if redirects++; redirects > maxRedirects {
				return reply, err
			}
			addr := withHost(rd.addr, c.addr)
			if host, _, _ := net.SplitHostPort(addr); host == "?" {
				// The node has no endpoint it can announce: fail this
				// command (503) rather than store "?" in the map.
				c.r.connFailed(c.ctx)
				return reply, err
			}
			if rd.kind == "MOVED" {
				c.r.moved(c.ctx, rd.slot, addr, seen)
			}
			if err := c.moveTo(addr); err != nil {
				return nil, err
			}
			asking = rd.kind == "ASK"
		case "TRYAGAIN":
			// A multi-key command met a slot whose keys are split between
			// two nodes (or a script declaring a key that is missing, see
			// internal/session's guard key): wait for the migration.
			if waits++; waits > maxTryAgain {
				return reply, err
			}
			t := time.NewTimer(tryAgainWait)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return nil, c.ctx.Err()
			case <-t.C:
			}
		default:
			if err != nil && !errors.As(err, new(redis.Error)) {
				c.r.connFailed(c.ctx) // the node may be gone: learn who replaced it
			}
			return reply, err
		}
		seen = time.Now()
		reply, err = c.send(f, asking)
	}
}

// send runs f on the current node, after ASKING when asking.
func (c *conn) send(f func(redis.Conn) (any, error), asking bool) (any, error) {
	if asking {
		if _, err := c.c.Do("ASKING"); err != nil {
			return nil, fmt.Errorf("rediscluster: %s: ASKING: %w", c.addr, err)
		}
	}
	return f(c.c)
}

// moveTo replaces the connection by one to addr.
func (c *conn) moveTo(addr string) error {
	if addr == c.addr {
		return nil
	}
	nc, err := c.r.dial(c.ctx, addr)
	if err != nil {
		return err
	}
	c.c.Close()
	c.c, c.addr = nc, addr
	return nil
}
