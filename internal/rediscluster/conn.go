package rediscluster

import (
	"context"
	"errors"
	"fmt"
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

// run sends a command with f and follows what the cluster answers.
func (c *conn) run(f func(redis.Conn) (any, error)) (any, error) {
	seen := time.Now()
	reply, err := f(c.c)
	for range maxRedirects {
		rd := redirect(err)
		switch rd.kind {
		case "MOVED":
			c.r.moved(c.ctx, rd.slot, rd.addr, seen)
			if err := c.moveTo(rd.addr); err != nil {
				return nil, err
			}
		case "ASK":
			// The slot is migrating and this key has left: one command on
			// the importing node, prefixed by ASKING; the map stays.
			return c.ask(rd.addr, f)
		case "TRYAGAIN":
			// A multi-key command met a slot half migrated; the keys of one
			// user move together, so this passes within milliseconds.
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
		reply, err = f(c.c)
	}
	return reply, err
}

// moveTo replaces the connection by one to addr, for this command and the
// ones after it (a WAIT after a write must reach the node that took it).
func (c *conn) moveTo(addr string) error {
	nc, err := c.r.pool(addr).GetContext(c.ctx)
	if err != nil {
		return fmt.Errorf("rediscluster: %s: %w", addr, err)
	}
	c.c.Close()
	c.c, c.addr = nc, addr
	return nil
}

func (c *conn) ask(addr string, f func(redis.Conn) (any, error)) (any, error) {
	nc, err := c.r.pool(addr).GetContext(c.ctx)
	if err != nil {
		return nil, fmt.Errorf("rediscluster: %s: %w", addr, err)
	}
	defer nc.Close()
	if _, err := nc.Do("ASKING"); err != nil {
		return nil, fmt.Errorf("rediscluster: %s: ASKING: %w", addr, err)
	}
	return f(nc)
}
